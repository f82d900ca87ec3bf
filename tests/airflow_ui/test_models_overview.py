"""models_overview: the Models page's data read from the artifact root, unreadable pieces left out;
models_chart: its accuracy plot, readable with one run or thirty."""

import datetime as dt
import re

from scoring_support import evaluated, promote, scored

from imdb_airflow import models_chart, models_overview
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
    svg = models_chart.accuracy_svg(runs)
    assert svg.startswith('<svg id="accuracy-plot"') and svg.count("<circle") == 2 and "b: 0.8800" in svg
    assert "No finished training run" in models_chart.accuracy_svg([])


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


def test_version_labels_are_the_promotion_time_as_short_as_tells_them_apart():
    first = "20261203T150102.123456Z__imdb_sentiment__manual__2026-12-03T15:01:02.123456+00:00"
    later = "20261204T091500.000001Z__imdb_sentiment__scheduled__2026-12-04T00:00:00+00:00"
    same_minute = "20261203T150159.000000Z__imdb_sentiment__manual__x"
    same_second = "20261203T150102.999999Z__imdb_sentiment__manual__y"
    assert models_overview.version_labels([first, later, "v1"]) == {
        first: "2026-12-03 15:01",
        later: "2026-12-04 09:15",
    }  # "v1" is no version install made: the page cuts such a name short itself
    assert models_overview.version_labels([first, same_minute])[first] == "2026-12-03 15:01:02"
    assert models_overview.version_labels([first, same_second])[first] == "2026-12-03 15:01:02.123456"


def runs_every(step: dt.timedelta, count: int, start="2026-11-01T08:00:00+00:00") -> list[dict]:
    begin = dt.datetime.fromisoformat(start)
    return [
        {
            "dag_id": "imdb_sentiment",
            "run": f"manual__{(begin + i * step).isoformat()}",
            "finished_at": (begin + i * step).isoformat(),
            "test_accuracy": 0.86 + (i * 7 % 5) / 200,
        }
        for i in range(count)
    ]


def point_labels(svg: str) -> list[tuple[float, float, str]]:
    found = re.findall(r'<text class="point-label" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)</text>', svg)
    return [(float(x), float(y), text) for x, y, text in found]


def test_the_plot_has_named_axes_date_ticks_and_the_champions_runs_marked():
    runs = runs_every(dt.timedelta(days=3), 10)
    champions = [
        {"version": "v2", "current": True, "dag_id": "imdb_sentiment", "run": runs[7]["run"]},
        {"version": "v1", "current": False, "dag_id": "imdb_sentiment", "run": runs[2]["run"]},
        {"version": "v0", "current": False, "dag_id": "imdb_sentiment", "run": "not plotted"},
    ]
    svg = models_chart.accuracy_svg(runs, champions)
    assert 'viewBox="0 0 ' in svg and 'width="100%"' in svg
    assert ">test accuracy</text>" in svg and ">evaluation finished (UTC)</text>" in svg
    assert all(f">{tick:.1f}</text>" in svg for tick in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0))
    ticks = re.findall(r'class="time-tick"[^>]*>([^<]*)<', svg)
    assert 3 <= len(ticks) <= models_chart.MAX_TICKS and all(
        re.fullmatch(r"2026-1[12]-\d\d", t) for t in ticks
    )
    groups = svg.split('<g class="run">')[1:]
    assert len(groups) == 10 and svg.count("<circle") == 10  # one circle a run, legends drawn otherwise
    starred = [i for i, group in enumerate(groups) if 'class="current-champion"' in group]
    ringed = [i for i, group in enumerate(groups) if 'class="former-champion"' in group]
    assert starred == [7] and ringed == [2] and "current champion" in groups[7]
    assert ">current champion</text>" in svg and ">earlier champion</text>" in svg  # the legend
    assert {text for *_, text in point_labels(svg)} >= {f"{runs[i]['test_accuracy']:.3f}" for i in (2, 7, 9)}


def test_the_plot_of_one_run_and_of_thirty_close_together_stays_readable():
    [run] = runs_every(dt.timedelta(0), 1)
    one = models_chart.accuracy_svg([run])
    assert one.count("<circle") == 1 and [label[2] for label in point_labels(one)] == ["0.860"]
    assert re.findall(r'class="time-tick"[^>]*>([^<]*)<', one) == ["2026-11-01 08:00"]
    assert "current champion" not in one  # no legend entry for a mark not shown
    many = runs_every(dt.timedelta(minutes=2), 30)
    svg = models_chart.accuracy_svg(
        many, [{"current": True, "dag_id": "imdb_sentiment", "run": many[0]["run"]}]
    )
    labels = point_labels(svg)
    assert svg.count("<circle") == 30 and 5 <= len(labels) < 30  # some points labelled, not all
    for i, (x, y, _) in enumerate(labels):  # no two labels overlap
        for x2, y2, _ in labels[i + 1 :]:
            assert abs(x - x2) >= models_chart.LABEL_WIDTH or abs(y - y2) >= models_chart.LABEL_HEIGHT
    first_group = svg.split('<g class="run">')[1]
    assert 'class="current-champion"' in first_group and 'class="point-label"' in first_group
    ticks = re.findall(r'class="time-tick"[^>]*>([^<]*)<', svg)
    assert ticks[:2] == ["08:00", "2026-11-01"] and "09:00" in ticks  # times, the date under the first


def test_the_plot_escapes_run_ids_and_leaves_out_what_it_cannot_place():
    runs = [
        {
            "dag_id": "imdb_sentiment",
            "run": "<script>alert(1)</script>",
            "finished_at": "2026-11-01T08:00:00",
            "test_accuracy": 0.87,
        },
        {"dag_id": "imdb_sentiment", "run": "no time", "finished_at": "<b>", "test_accuracy": 0.87},
        {
            "dag_id": "imdb_sentiment",
            "run": "no number",
            "finished_at": "2026-11-02",
            "test_accuracy": float("nan"),
        },
    ]
    svg = models_chart.accuracy_svg(runs, [{"current": True, "dag_id": "<i>", "run": "<script>"}])
    assert "<script>" not in svg and "&lt;script&gt;alert(1)&lt;/script&gt;: 0.8700" in svg
    assert svg.count("<circle") == 1 and "<b>" not in svg and "<i>" not in svg
