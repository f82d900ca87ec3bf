"""models_overview: the Models page's data read from the artifact root, unreadable pieces left out."""

from scoring_support import evaluated, promote, scored

from imdb_airflow import models_overview
from imdb_pipeline.store import scored_batches


def test_champion_history_newest_first_with_rollback_on_the_current(artifact_root):
    first = promote(artifact_root, "run1", 0.86)
    second = promote(artifact_root, "run2", 0.88, previous=first)
    rows = models_overview.champions(artifact_root)
    assert [(r["version"], r["current"], r["previous"]) for r in rows] == [
        (second, True, first),
        (first, False, None),
    ]
    assert rows[0]["rollback"] == models_overview.ROLLBACK and rows[1]["rollback"] is None
    assert rows[0]["test_accuracy"] == 0.88 and rows[0]["run"] == "run2"


def test_training_runs_oldest_first_and_plotted(artifact_root):
    evaluated(artifact_root, "a", 0.85)
    evaluated(artifact_root, "b", 0.88)
    (artifact_root / "imdb_sentiment" / "c" / "evaluate").mkdir(parents=True)  # in progress: left out
    runs = models_overview.training_runs(artifact_root)
    assert [(r["run"], r["test_accuracy"]) for r in runs] == [("a", 0.85), ("b", 0.88)]
    svg = models_overview.accuracy_svg(runs)
    assert svg.startswith('<svg id="accuracy-plot"') and svg.count("<circle") == 2 and "b: 0.8800" in svg
    assert "No finished training run" in models_overview.accuracy_svg([])


def test_batches_with_drift_flags_and_their_statistics_path(artifact_root):
    scored(artifact_root, "v1", "ok.txt__1", {"drifted": False, "tested": True, "flags": []})
    scored(artifact_root, "v1", "odd.txt__2", {"drifted": True, "tested": True, "flags": ["length"]})
    rows = {row["file"]: row for row in models_overview.batches(artifact_root)}
    assert rows["odd.txt__2"]["drifted"] and rows["odd.txt__2"]["drift_flags"] == ["length"]
    assert not rows["ok.txt__1"]["drifted"] and rows["ok.txt__1"]["rows"] == 10
    path = models_overview.batch_stats_path("v1", "ok.txt__1", artifact_root)
    assert path == scored_batches.scored_dir(artifact_root) / "v1" / "ok.txt__1" / "stats.json"
    for version, key in [
        ("v1", ".."),
        ("..", "v1"),
        ("v1", "missing"),
        (".x", "ok.txt__1"),
        ("v1/ok.txt__1", "x"),
    ]:
        assert models_overview.batch_stats_path(version, key, artifact_root) is None
