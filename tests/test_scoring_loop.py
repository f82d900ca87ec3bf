"""The scoring loop on real components: scheduler, dag-processor, api-server, triggerer and the
LocalExecutor on a fresh PostgreSQL database (``airflow_cluster``), driven as producers would.

A blessed imdb_sentiment run makes the scheduler start imdb_score by itself (the champion asset
event); an inbox asset event posted through the REST API starts another, and so does a READY flag
file the triggerer's AssetWatcher sees. Every inbox file is scored once per champion; binary junk
is quarantined with its reason beside a good file that is scored; a scoring task killed mid-batch
is retried and leaves no duplicate and no partial output; two runs at once score a file once.
Also prints the scheduler's delay from each asset event to the start of the run it caused.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from pathlib import Path

import pytest
from airflow_cluster import running_cluster
from scoring_support import drop, quarantined, reviews
from stage_runs import TINY_PARAMS

from imdb_pipeline.store import artifacts, scored_batches

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SCORE = "imdb_score"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    home = tmp_path_factory.mktemp("scoring-cluster")
    env = {"IMDB_SCORE_SCHEDULE": "none"}  # only events start runs here
    with running_cluster(home, "LocalExecutor", extra_env=env, triggerer=True) as started:
        started.wait_for("imdb_score to be parsed", lambda: started.api("GET", f"/dags/{SCORE}").ok)
        yield started


def root_of(cluster) -> Path:
    return Path(cluster.env["IMDB_ARTIFACT_ROOT"])


def score_runs(cluster) -> list[dict]:
    return cluster.api("GET", f"/dags/{SCORE}/dagRuns", params={"order_by": "start_date"}).json()["dag_runs"]


def wait_new_run(cluster, known: set[str], timeout: float = 300) -> dict:
    """The next imdb_score run not in ``known``, once finished (asserted successful)."""
    run = cluster.wait_for(
        "an imdb_score run",
        lambda: next(
            (
                r
                for r in score_runs(cluster)
                if r["dag_run_id"] not in known and r["state"] in ("success", "failed")
            ),
            None,
        ),
        timeout=timeout,
    )
    assert run["state"] == "success", cluster.log("scheduler")[-4000:]
    return run


def summary(cluster, run: dict) -> dict:
    path = artifacts.run_dir(SCORE, run["dag_run_id"], root=root_of(cluster)) / "score" / "summary.json"
    return artifacts.read_json(path)


def asset_event(cluster, name: str, extra: dict | None = None) -> dict:
    assets = cluster.api("GET", "/assets", params={"name_pattern": name}).json()["assets"]
    [asset] = [a for a in assets if a["name"] == name]
    response = cluster.api("POST", "/assets/events", json={"asset_id": asset["id"], "extra": extra or {}})
    assert response.status_code == 200, response.text
    return response.json()


def delay_seconds(event_time: str, run: dict) -> float:
    return (
        dt.datetime.fromisoformat(run["start_date"]) - dt.datetime.fromisoformat(event_time)
    ).total_seconds()


def text_file(count: int, seed: int = 0) -> bytes:
    return ("\n".join(reviews(count, seed)) + "\n").encode()


def poll_for(check, timeout: float = 60, every: float = 0.02):
    """``check()``'s first true result, polled faster than ``Cluster.wait_for``; the last one at timeout."""
    deadline = time.monotonic() + timeout
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(every)
    return result


def claim_holder(claim: Path) -> int | None:
    """The pid holding an flock on ``claim`` (from /proc/locks), if any."""
    inode = claim.stat().st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        parts = line.split()
        if "FLOCK" in parts and parts[-3].endswith(f":{inode}"):
            return int(parts[4]) if parts[1] == "FLOCK" else int(parts[5])
    return None


@pytest.fixture(scope="module")
def first_scoring(cluster, tiny_aclimdb_tarball) -> dict:
    """Two files wait in the inbox; a blessed training run promotes a champion; its event starts scoring."""
    inbox = root_of(cluster) / "inbox"
    drop(inbox, "a.txt", text_file(120), age=1)
    rows = [{"id": f"b{i}", "text": review} for i, review in enumerate(reviews(80, seed=1))]
    drop(inbox, "b.jsonl", "".join(json.dumps(row) + "\n" for row in rows).encode(), age=2)
    conf = {**TINY_PARAMS, "data_path": str(tiny_aclimdb_tarball), "min_accuracy": 0.6}
    run_id = cluster.trigger(conf)
    state = cluster.wait_for(
        "the training run",
        lambda: (s := cluster.run_state(run_id)) in ("success", "failed") and s,
        timeout=900,
    )
    assert state == "success", cluster.log("scheduler")[-4000:]
    run = wait_new_run(cluster, set())
    events = cluster.api("GET", "/assets/events", params={"order_by": "-timestamp"}).json()["asset_events"]
    champion_event = next(e for e in events if e["uri"] == "imdb_champion")
    return {"run": run, "event": champion_event}


def test_a_promotion_starts_scoring_and_each_file_is_scored_once(cluster, first_scoring):
    run, event = first_scoring["run"], first_scoring["event"]
    assert run["run_type"] == "asset_triggered"
    assert set(event["extra"]) >= {"version", "model_sha256", "test_accuracy"}
    result = summary(cluster, run)
    assert result["model_version"] == event["extra"]["version"]
    assert sorted((b["file"], b["status"]) for b in result["batches"]) == [
        ("a.txt", "scored"),
        ("b.jsonl", "scored"),
    ]
    delay = delay_seconds(event["timestamp"], run)
    print(f"\nscheduler delay, champion event -> scoring run start: {delay:.1f}s")


def test_a_rest_event_scores_the_good_file_and_quarantines_junk(cluster, first_scoring):
    known = {r["dag_run_id"] for r in score_runs(cluster)}
    inbox = root_of(cluster) / "inbox"
    drop(inbox, "junk.txt", os.urandom(64 << 10), age=3)
    drop(inbox, "c.txt", text_file(60, seed=2), age=4)
    event = asset_event(cluster, "imdb_reviews_inbox", {"producer": "test", "files": ["junk.txt", "c.txt"]})
    run = wait_new_run(cluster, known)
    statuses = {b["file"]: b["status"] for b in summary(cluster, run)["batches"]}
    assert statuses == {"junk.txt": "quarantined", "c.txt": "scored"}
    [set_aside] = quarantined(root_of(cluster))
    assert set_aside["file"] == "junk.txt" and set_aside["reason"] and not (inbox / "junk.txt").exists()
    delay = delay_seconds(event["timestamp"], run)
    print(f"\nscheduler delay, REST inbox event -> scoring run start: {delay:.1f}s")


def test_a_killed_scoring_task_is_retried_without_duplicate_or_partial_output(cluster, first_scoring):
    known = {r["dag_run_id"] for r in score_runs(cluster)}
    root = root_of(cluster)
    path = drop(root / "inbox", "big.txt", text_file(5000) * 100, age=5)  # 500,000 reviews
    key = scored_batches.batch_key(path.name, artifacts.sha256_file(path))
    version = first_scoring["event"]["extra"]["version"]
    claim = scored_batches.scored_dir(root) / version / f".{key}.claim"
    asset_event(cluster, "imdb_reviews_inbox")
    # Polled fast, and killed as soon as its partial folder shows: a fast machine scores a small file
    # within one of Cluster.wait_for's one-second polls.
    pid = poll_for(lambda: claim.exists() and claim_holder(claim), timeout=300)
    assert pid, "no scoring task claimed big.txt"
    partials = poll_for(lambda: list((scored_batches.scored_dir(root) / version).glob(f".{key}.partial-*")))
    assert partials and claim_holder(claim) == pid, "big.txt was scored before it could be killed"
    os.kill(pid, signal.SIGKILL)
    run = wait_new_run(cluster, known, timeout=600)
    tries = cluster.api("GET", f"/dags/{SCORE}/dagRuns/{run['dag_run_id']}/taskInstances/score").json()
    assert tries["try_number"] >= 2  # killed once, then retried
    version_dir = scored_batches.scored_dir(root) / version
    assert [p.name for p in version_dir.iterdir() if p.name.startswith(f".{key}.partial")] == []
    ids = [json.loads(line)["id"] for line in (version_dir / key / "scores.jsonl").read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 500_000


def test_two_runs_at_once_score_a_file_once(cluster, first_scoring):
    """The second run starts while the first holds the file's claim: it must find the claim held.
    On a loaded machine the second run may start only after the first finished (it then finds the
    file done): the file is made three times larger and both runs go again, until they overlap."""
    known = {r["dag_run_id"] for r in score_runs(cluster)}
    root = root_of(cluster)
    version = first_scoring["event"]["extra"]["version"]
    for attempt, copies in enumerate((100, 300, 900)):  # 500,000 reviews, then 1.5 and 4.5 million
        path = drop(
            root / "inbox", f"d{attempt}.txt", text_file(5000, seed=3 + attempt) * copies, age=6 + attempt
        )
        key = scored_batches.batch_key(path.name, artifacts.sha256_file(path))
        claim = scored_batches.scored_dir(root) / version / f".{key}.claim"
        first = cluster.trigger({"rescore": "none"}, dag_id=SCORE)
        holder = poll_for(lambda claim=claim: claim.exists() and claim_holder(claim), timeout=300)
        assert holder, f"the first run never claimed {path.name}"
        second = cluster.trigger({"rescore": "none"}, dag_id=SCORE)
        for run_id in (first, second):
            cluster.wait_for(
                f"run {run_id}",
                lambda r=run_id: cluster.run_state(r, SCORE) in ("success", "failed"),
                timeout=900,
            )
            assert cluster.run_state(run_id, SCORE) == "success"
        outcomes = {
            run_id: [
                b["status"]
                for b in summary(cluster, {"dag_run_id": run_id})["batches"]
                if b["file"] == path.name
            ]
            for run_id in (first, second)
        }
        ids = [
            json.loads(line)["id"] for line in (claim.parent / key / "scores.jsonl").read_text().splitlines()
        ]
        assert len(ids) == len(set(ids)) == 5000 * copies  # scored once, whether they overlapped or not
        path.unlink()
        if outcomes[second] != []:  # [] is "done already": the second run started after the first ended
            break
    assert outcomes == {first: ["scored"], second: ["busy"]}, outcomes  # busy: they overlapped
    assert len([r for r in score_runs(cluster) if r["dag_run_id"] not in known]) == 2 * (attempt + 1)


def test_a_flag_file_seen_by_the_watcher_starts_scoring(cluster, first_scoring):
    known = {r["dag_run_id"] for r in score_runs(cluster)}
    inbox = root_of(cluster) / "inbox"
    drop(inbox, "e.txt", text_file(40, seed=4), age=7)
    (inbox / "READY").touch()
    run = wait_new_run(cluster, known, timeout=300)
    assert not (inbox / "READY").exists()  # the trigger deletes the flag it saw
    assert [(b["file"], b["status"]) for b in summary(cluster, run)["batches"]] == [("e.txt", "scored")]


def test_the_models_page_lists_the_champion_and_the_batches(cluster, first_scoring):
    """Runs alone too: the page is compared with the store, not with what other tests made."""
    root = root_of(cluster)
    page = cluster.session.get(f"{cluster.base}/imdb-models/", timeout=30)
    assert page.status_code == 200, page.text[:500]
    assert page.text.count('<tr class="champion current">') == 1 and '<svg id="accuracy-plot"' in page.text
    batches = scored_batches.recent_batches(root)
    assert batches, "the first scoring made at least one batch"
    assert page.text.count('<tr class="batch">') == len(batches)
    for batch in batches:
        assert batch["key"] in page.text or batch["file"] in page.text
