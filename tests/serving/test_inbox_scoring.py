"""inbox_scoring: each inbox file scored once per champion version, with statistics and drift; bad files
quarantined with their reason while the others are scored."""

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from scoring_support import drop, install_champion, quarantined, reviews

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.features import review_stats, tokenized
from imdb_pipeline.serving import batch_scoring, inbox_scoring, scoring_summary
from imdb_pipeline.serving.batch_statistics import training_reference
from imdb_pipeline.serving.scorer import Scorer
from imdb_pipeline.store import artifacts, scored_batches

KEYS = {"a.txt": "a__1", "b.jsonl": "b__2", "c.txt": "c__3"}


def paths(tmp_path):
    return {tmp_path / name: key for name, key in KEYS.items()}  # oldest first


@pytest.mark.parametrize(
    ("rescore", "done", "expected"),
    [
        ("none", {}, ["a.txt", "b.jsonl", "c.txt"]),  # never scored: always
        ("none", {"a__1": {"v1"}, "b__2": {"v1"}}, ["c.txt"]),
        ("latest", {"a__1": {"v1"}, "b__2": {"v1"}, "c__3": {"v1"}}, ["c.txt"]),  # a new champion
        ("all", {"a__1": {"v1"}, "b__2": {"v1", "v2"}}, ["a.txt", "c.txt"]),
        ("all", {key: {"v2"} for key in KEYS.values()}, []),  # this version scored them all
    ],
)
def test_plan_scores_new_batches_and_rescores_what_is_asked(tmp_path, rescore, done, expected):
    chosen = inbox_scoring.plan(paths(tmp_path), "v2", rescore, done)
    assert [path.name for path, _ in chosen] == expected


def test_plan_refuses_an_unknown_rescore(tmp_path):
    with pytest.raises(PipelineInputError, match="rescore='some': choose one of latest, all, none"):
        inbox_scoring.plan(paths(tmp_path), "v1", "some", {})


# --- with a trained model (the tiny run's) as champion -------------------------------------------


@pytest.fixture
def champion_root(tiny_run, artifact_root):
    """The tiny run's model installed as the champion, with its training statistics."""
    install_champion(tiny_run["outputs"], artifact_root, tiny_run["params"]["num_words"])
    return artifact_root


def read_scores(folder):
    return [json.loads(line) for line in (folder / "scores.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_good_files_are_scored_once_and_junk_is_quarantined(champion_root):
    inbox = champion_root / "inbox"
    drop(inbox, "a.txt", ("\n".join(reviews(150)) + "\n\n").encode(), age=1)
    rows = [{"id": f"r{i}", "text": review} for i, review in enumerate(reviews(120, seed=1))]
    drop(inbox, "b.jsonl", "".join(json.dumps(row) + "\n" for row in rows).encode(), age=2)
    drop(inbox, "junk.txt", bytes(range(256)) * 64, age=3)

    summary = inbox_scoring.score_inbox(root=champion_root)
    by_file = {batch["file"]: batch for batch in summary["batches"]}
    assert {name: batch["status"] for name, batch in by_file.items()} == {
        "a.txt": "scored",
        "b.jsonl": "scored",
        "junk.txt": "quarantined",
    }
    assert "NUL bytes" in by_file["junk.txt"]["reason"] and not (inbox / "junk.txt").exists()
    [set_aside] = quarantined(champion_root)
    assert set_aside["file"] == "junk.txt" and "not a text file" in set_aside["reason"]

    a_scores = read_scores(Path(by_file["a.txt"]["folder"]))
    assert len(a_scores) == 150 and a_scores[0]["id"] == 1
    assert set(a_scores[0]) == {"id", "probability", "label", "model_version", "scored_at"}
    assert a_scores[0]["model_version"] == summary["model_version"]
    assert all((row["label"] == "positive") == (row["probability"] >= 0.5) for row in a_scores)
    b_folder = Path(by_file["b.jsonl"]["folder"])
    assert [row["id"] for row in read_scores(b_folder)] == [row["id"] for row in rows]
    stats = artifacts.read_json(b_folder / "stats.json")
    assert (stats["rows"], stats["blank_rows"], stats["undecodable_bytes"]) == (120, 0, 0)
    assert stats["drift"]["tested"] and not stats["drift"]["drifted"]
    artifacts.verify_outputs(
        {"scores": str(b_folder / "scores.jsonl"), "stats": str(b_folder / "stats.json")}
    )

    again = inbox_scoring.score_inbox(root=champion_root, rescore="none")
    assert again["batches"] == [] and again["already_scored"] == 2  # each file once per champion version
    latest = inbox_scoring.score_inbox(root=champion_root, rescore="latest")
    assert latest["batches"] == []
    [(_, headline)] = scoring_summary.describe(latest)  # said as the normal thing it is
    assert (
        headline
        == f"champion {latest['model_version']}: nothing new: all 2 files already scored by this champion"
    )


@pytest.mark.slow
def test_other_text_is_flagged_as_drifted(champion_root):
    words = ["quarterly", "revenue", "guidance", "exceeded", "analyst", "consensus"]
    rng = np.random.default_rng(5)
    lines = [" ".join(rng.choice(words, size=rng.integers(3, 8))) for _ in range(300)]
    drop(champion_root / "inbox", "news.txt", ("\n".join(lines) + "\n").encode())
    [batch] = inbox_scoring.score_inbox(root=champion_root)["batches"]
    assert batch["drifted"] and {"length", "oov_share"} <= set(batch["drift_flags"])


@pytest.mark.slow
def test_a_failure_mid_batch_leaves_nothing_and_the_next_run_scores_once(champion_root, monkeypatch):
    from imdb_pipeline.serving import inbox_rows as inbox_module

    monkeypatch.setattr(inbox_module, "CHUNK_LINES", 50)
    drop(champion_root / "inbox", "a.txt", ("\n".join(reviews(200)) + "\n").encode())
    real = Scorer.score_counting
    calls = []

    def failing(*args):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker lost")
        return real(*args)

    monkeypatch.setattr(Scorer, "score_counting", failing)
    [failed] = inbox_scoring.score_inbox(root=champion_root)["batches"]  # the file's failure, not the run's
    assert (failed["status"], failed["reason"]) == ("failed", "RuntimeError: worker lost")
    assert (champion_root / "inbox" / "a.txt").is_file()  # left for the next run, not quarantined
    version_dir = next(scored_batches.scored_dir(champion_root).iterdir())
    assert [path.name for path in version_dir.iterdir() if not path.name.endswith(".claim")] == []
    monkeypatch.setattr(Scorer, "score_counting", real)
    [batch] = inbox_scoring.score_inbox(root=champion_root)["batches"]
    assert batch["status"] == "scored" and batch["rows"] == 200


@pytest.mark.slow
def test_a_batch_claimed_by_another_run_is_left_to_it(champion_root):
    path = drop(champion_root / "inbox", "a.txt", b"good film\n")
    model = batch_scoring.Champion.load(champion_root)
    key = scored_batches.batch_key(path.name, artifacts.sha256_file(path))
    version_dir = scored_batches.scored_dir(champion_root) / model.version
    with scored_batches.claim(version_dir, key):
        result = {}
        thread = threading.Thread(
            target=lambda: result.update(
                batch_scoring.score_file(path, None, model, batch_scoring.Policy(), champion_root)
            )
        )
        thread.start()
        thread.join()
    assert result["status"] == "busy" and not (version_dir / key).exists()


def test_without_a_champion_nothing_is_scored(artifact_root):
    drop(artifact_root / "inbox", "a.txt", b"good film\n")
    summary = inbox_scoring.score_inbox(root=artifact_root)
    assert (summary["model_version"], summary["waiting"], summary["batches"]) == (None, 1, [])


@pytest.mark.slow
def test_training_statistics_come_from_the_champion_or_its_training_run(tiny_run, artifact_root, tmp_path):
    outputs = tiny_run["outputs"]
    folder = tmp_path / "champion"
    folder.mkdir()
    num_words = tiny_run["params"]["num_words"]
    from_run = training_reference(folder, {"run_dir": str(tiny_run["path"])}, num_words)
    # Computed from that run's ingest output: its training split's statistics.
    train_split = tokenized.load_split(outputs["ingest"]["train_tokens"])
    assert from_run == review_stats.training_statistics(train_split, num_words)
    assert from_run["rows"] == len(train_split) > 0 and from_run["num_words"] == num_words
    assert training_reference(folder, {"run_dir": str(tmp_path / "pruned")}, num_words) is None
    assert training_reference(folder, {}, num_words) is None
    artifacts.write_json(folder / "data_stats.json", {"saved": True})
    assert training_reference(folder, {"run_dir": str(tiny_run["path"])}, num_words) == {"saved": True}
