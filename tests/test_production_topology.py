"""The production topology without Docker: api-server, scheduler, dag-processor and a Celery
worker from this environment, against a fresh database on the local PostgreSQL and the local
Redis, driven as a client would through the REST API v2.

Needs PostgreSQL on 127.0.0.1:5432 (trust auth for user postgres) and Redis on 127.0.0.1:6379,
as on the CI machine; skipped, saying so, without them. A few minutes on tiny generated data.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest
from airflow_cluster import CELERY, postgres, running_cluster
from stage_runs import TINY_PARAMS

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("cluster"), CELERY) as started:
        yield started


def worker_tree_rss_mb(process: subprocess.Popen) -> float:
    root = psutil.Process(process.pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20


def test_triggered_runs_execute_on_the_celery_worker(cluster, tiny_aclimdb_tarball, capsys):
    started = time.monotonic()
    conf = {**TINY_PARAMS, "data_path": str(tiny_aclimdb_tarball)}
    refused = cluster.api(
        "POST", "/dags/imdb_sentiment/dagRuns", json={"logical_date": None, "conf": {"num_words": 2}}
    )
    assert refused.status_code == 400 and "num_words" in refused.text

    first = cluster.trigger(conf)
    second = cluster.trigger({**conf, "num_words": 30, "units": 8})
    peak = 0.0
    stop_sampling = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop_sampling.is_set():
            try:
                peak = max(peak, worker_tree_rss_mb(cluster.processes["celery-worker"]))
            except psutil.Error:
                pass
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        for run_id in (first, second):
            state = cluster.wait_for(
                f"run {run_id}",
                lambda: (s := cluster.run_state(run_id)) in ("success", "failed") and s,
                timeout=600,
            )
            assert state == "success", cluster.log("celery-worker")[-5000:]
    finally:
        stop_sampling.set()
        sampler.join()

    # The evaluate task's XCom through the API: paths into the run's own folder.
    xcom = cluster.api(
        "GET", f"/dags/imdb_sentiment/dagRuns/{first}/taskInstances/evaluate/xcomEntries/return_value"
    )
    assert xcom.status_code == 200, xcom.text
    value = xcom.json()["value"]
    value = json.loads(value) if isinstance(value, str) else value
    assert set(value) == {"evaluation", "predictions"}
    first_dir = cluster.home / "artifacts" / "imdb_sentiment" / first
    assert Path(value["evaluation"]).parent == first_dir / "evaluate"
    for run_id, num_words in ((first, TINY_PARAMS["num_words"]), (second, 30)):
        report = cluster.home / "artifacts" / "imdb_sentiment" / run_id / "report"
        assert (report / "report.html").is_file() and (report / "loss.png").is_file()
        assert json.loads((report / "metrics.json").read_text())["config"]["num_words"] == num_words

    # The metadata is in PostgreSQL, and the tasks ran on this test's Celery queue.
    rows = postgres(
        f"SELECT task_id, state, queue, hostname FROM task_instance WHERE run_id = '{first}'",
        cluster.database,
    )
    assert sorted(r[0] for r in rows) == [
        "evaluate",
        "gate",
        "ingest",
        "promote",
        "report",
        "train",
        "vectorize",
    ]
    assert {r[1] for r in rows if r[0] != "promote"} == {"success"} and {r[2] for r in rows} == {
        cluster.queue
    }
    # promote ran (or was skipped by the gate) on the worker too, and the champion is one of the two runs.
    assert {r[1] for r in rows if r[0] == "promote"} <= {"success", "skipped"}
    champion = json.loads((cluster.home / "artifacts" / "champion" / "champion.json").read_text())
    assert champion["run"] in (first, second)
    pool = postgres("SELECT slots FROM slot_pool WHERE pool = 'imdb_training'", cluster.database)
    assert pool == [(1,)]
    worker_log = cluster.log("celery-worker")
    assert first in worker_log and second in worker_log
    timings = json.loads((first_dir / "report" / "metrics.json").read_text())["timings"]
    with capsys.disabled():  # into the CI log
        print(
            f"\nproduction topology: 2 runs executed by the Celery worker (queue {cluster.queue}) in "
            f"{time.monotonic() - started:.0f} s; worker process tree peak RSS {peak:.0f} MB; metadata in "
            f"PostgreSQL database {cluster.database}: task_instance (task, state, queue, hostname) {rows}; "
            f"per-task peak RSS MB { ({task: t['peak_rss_mb'] for task, t in timings.items()}) }"
        )
