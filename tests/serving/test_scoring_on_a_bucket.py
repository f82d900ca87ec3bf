"""Scoring with the artifact root in a bucket: the inbox is a prefix of it, each (file, champion
version) scored exactly once, through two runs at once and a run killed mid-batch."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from scoring_support import reviews

from imdb_pipeline.features import review_stats
from imdb_pipeline.features.tokenized import load_split
from imdb_pipeline.store import artifacts, model_store, scored_batches

SCORE = [sys.executable, "-m", "imdb_pipeline.serving.inbox_scoring"]


@pytest.fixture
def champion(s3_root, tiny_run, tmp_path) -> str:
    """The tiny run's model as the bucket's champion, with its training statistics."""
    outputs = tiny_run["outputs"]
    stats = review_stats.training_statistics(
        load_split(outputs["ingest"]["train_tokens"]), tiny_run["params"]["num_words"]
    )
    stats_path = tmp_path / "stats" / model_store.MODEL_FILES["data_stats"]
    artifacts.write_json(stats_path, stats)
    files = {name: outputs["train"][name] for name in ("model", "word_index")}
    version = model_store.install({**files, "data_stats": str(stats_path)}, {"dag_id": "t", "run": "r1"})
    model_store.switch_to(version)
    return version


def put(name: str, data: bytes) -> None:
    root = artifacts.artifact_root()
    root.store.put(root / "inbox" / name, data)


def lines(count: int, seed: int = 0) -> bytes:
    return ("\n".join(reviews(count, seed)) + "\n").encode()


def finished(version: str) -> dict[str, dict]:
    """batch key -> its stats.json, for every finished batch of ``version`` in the bucket."""
    base = scored_batches.scored_dir() / version
    found = {}
    for key in base.store.children(base):
        if not key.startswith(".") and scored_batches.is_finished(base / key):
            found[key] = artifacts.read_json(artifacts.read_stage(base, key, only=("stats",))["stats"])
    return found


def run_scoring(*args: str) -> subprocess.Popen:
    return subprocess.Popen([*SCORE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_command_scores_a_bucket_inbox_and_sets_aside_what_cannot_be_scored(champion):
    put("good.txt", lines(30))
    put(
        "ids.jsonl",
        b"".join(json.dumps({"id": f"r{i}", "text": t}).encode() + b"\n" for i, t in enumerate(reviews(5))),
    )
    put("binary.txt", b"\x00\x01\x02 not text")
    put("folder.txt/inside", b"a prefix named like a batch")
    result = subprocess.run(SCORE, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    outcomes = {b["file"]: b["status"] for b in json.loads(result.stdout)["batches"]}
    assert outcomes == {
        "good.txt": "scored",
        "ids.jsonl": "scored",
        "binary.txt": "quarantined",
        "folder.txt": "refused",
    }
    rows = {stats["file"]: stats["rows"] for stats in finished(champion).values()}
    assert rows == {"good.txt": 30, "ids.jsonl": 5}
    root = artifacts.artifact_root()
    inbox = root.store.children(root / "inbox")
    assert "binary.txt" not in inbox and {"good.txt", "ids.jsonl", "folder.txt"} <= set(inbox)
    [folder] = root.store.children(root / "quarantine")
    reason = json.loads(root.store.read(root / "quarantine" / folder / "reason.json"))
    assert "NUL" in reason["reason"]
    assert root.store.read(root / "quarantine" / folder / "binary.txt") == b"\x00\x01\x02 not text"
    again = subprocess.run(SCORE, capture_output=True, text=True, timeout=300)
    assert [b["status"] for b in json.loads(again.stdout)["batches"]] == ["refused"]  # nothing twice


def test_two_runs_at_once_score_each_file_exactly_once(champion):
    names = [f"batch-{i}.txt" for i in range(6)]
    for i, name in enumerate(names):
        put(name, lines(2000, seed=i))
    first, second = run_scoring(), run_scoring()
    summaries = []
    for process in (first, second):
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        summaries.append({b["file"]: b["status"] for b in json.loads(out)["batches"]})
    scored_by = {name: [s[name] for s in summaries if name in s].count("scored") for name in names}
    assert scored_by == dict.fromkeys(names, 1), summaries
    # They overlapped: a run that started after the other ended would not list the files at all.
    assert any(status in ("busy", "done") for s in summaries for status in s.values()), summaries
    assert sorted(stats["file"] for stats in finished(champion).values()) == names


def test_a_run_killed_mid_batch_leaves_nothing_and_the_next_scores_it_once(champion):
    data = lines(60_000)
    put("big.txt", data)
    key = scored_batches.batch_key("big.txt", hashlib.sha256(data).hexdigest())
    version_dir = scored_batches.scored_dir() / champion
    short_claims = (
        "from imdb_pipeline.store import scored_batches; scored_batches.CLAIM_SECONDS = 3; "
        "from imdb_pipeline.serving import inbox_scoring; raise SystemExit(inbox_scoring.main([]))"
    )
    process = subprocess.Popen([sys.executable, "-c", short_claims], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not version_dir.store.exists(version_dir / f".{key}.claim"):
        assert process.poll() is None and time.monotonic() < deadline, (
            "the run ended before it could be killed"
        )
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not scored_batches.is_finished(version_dir / key)
    time.sleep(3.5)  # the killed run's claim is no longer renewed: it expires
    result = subprocess.run(SCORE, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert [b["status"] for b in json.loads(result.stdout)["batches"]] == ["scored"]
    assert [stats["rows"] for stats in finished(champion).values()] == [60_000]


def test_predict_scores_with_the_champion_in_the_bucket(champion):
    """`python -m imdb_pipeline.serving.predict` as documented, the champion found through the
    SDK's environment alone."""
    result = subprocess.run(
        [sys.executable, "-m", "imdb_pipeline.serving.predict"],
        input="a wonderful film, moving and funny\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert 0.0 <= json.loads(line)["probability"] <= 1.0
