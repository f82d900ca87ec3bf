"""The production topology without Docker: api-server, scheduler, dag-processor and a Celery
worker from this environment, against a fresh database on the local PostgreSQL and the local
Redis, with docker-compose.yaml's auth manager (FAB) and its users, driven as a client would through
the REST API v2 and the Report tab's pages.

Needs PostgreSQL on 127.0.0.1:5432 (trust auth for user postgres) and Redis on 127.0.0.1:6379,
as on the CI machine; skipped, saying so, without them. A few minutes on tiny generated data.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest
import requests
from airflow_cluster import CELERY, FAB, READ_ONLY_DAG, USERS, compose_auth_manager, postgres, running_cluster
from stage_runs import TINY_PARAMS

from imdb_pipeline.store import artifacts

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SENTIMENT = "imdb_sentiment"
ONE_TRIAL = [{"name": "book"}]  # the smallest sweep: one training
# Who may read which DAG's reports (the roles of airflow_cluster.USERS).
MAY_READ = {"admin": {SENTIMENT, READ_ONLY_DAG}, "reader": {READ_ONLY_DAG}, "outsider": set()}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with running_cluster(tmp_path_factory.mktemp("cluster"), CELERY) as started:
        yield started


def worker_tree_rss_mb(process: subprocess.Popen) -> float:
    root = psutil.Process(process.pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20


@pytest.fixture(scope="module")
def runs(cluster, tiny_aclimdb_tarball) -> dict:
    """Two imdb_sentiment runs and a one-trial imdb_experiments sweep, executed by the Celery worker."""
    started = time.monotonic()
    conf = {**TINY_PARAMS, "data_path": str(tiny_aclimdb_tarball)}
    triggered = {
        "first": (SENTIMENT, cluster.trigger(conf)),
        "second": (SENTIMENT, cluster.trigger({**conf, "num_words": 30, "units": 8})),
        "sweep": (READ_ONLY_DAG, cluster.trigger({**conf, "grid": ONE_TRIAL}, dag_id=READ_ONLY_DAG)),
    }
    peak = 0.0
    stop_sampling = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop_sampling.is_set():
            with contextlib.suppress(psutil.Error):
                peak = max(peak, worker_tree_rss_mb(cluster.processes["celery-worker"]))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        for dag_id, run_id in triggered.values():
            state = cluster.wait_for(
                f"run {run_id} of {dag_id}",
                lambda d=dag_id, r=run_id: (s := cluster.run_state(r, d)) in ("success", "failed") and s,
                timeout=900,
            )
            assert state == "success", cluster.log("celery-worker")[-5000:]
    finally:
        stop_sampling.set()
        sampler.join()
    return {
        **{name: run_id for name, (_, run_id) in triggered.items()},
        "peak_mb": peak,
        "seconds": time.monotonic() - started,
    }


def test_the_cluster_runs_the_compose_files_auth_manager(cluster):
    assert cluster.env["AIRFLOW__CORE__AUTH_MANAGER"] == compose_auth_manager() == FAB
    config = cluster.airflow("config", "get-value", "core", "auth_manager").stdout.strip()
    assert config == FAB


def test_bad_params_are_refused_before_a_run_exists(cluster):
    refused = cluster.api(
        "POST", "/dags/imdb_sentiment/dagRuns", json={"logical_date": None, "conf": {"num_words": 2}}
    )
    assert refused.status_code == 400 and "num_words" in refused.text


def test_triggered_runs_execute_on_the_celery_worker(cluster, runs, capsys):
    first, second, peak = runs["first"], runs["second"], runs["peak_mb"]

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
            f"{runs['seconds']:.0f} s (with a one-trial sweep); worker process tree peak RSS {peak:.0f} MB; "
            "metadata in "
            f"PostgreSQL database {cluster.database}: task_instance (task, state, queue, hostname) {rows}; "
            f"per-task peak RSS MB { ({task: t['peak_rss_mb'] for task, t in timings.items()}) }"
        )


def report_pages(cluster, dag_id: str, run_id: str) -> dict[str, bytes]:
    """Every page the Report tab's app serves for the run: the report at its folder URL, and each file
    its manifest lists (report.html again, the plots, metrics.json), with the bytes each must return."""
    folder = cluster.home / "artifacts" / dag_id / run_id / "report"
    base = f"{cluster.base}/imdb-reports/{dag_id}/{quote(run_id, safe='')}/"
    pages = {base: (folder / "report.html").read_bytes()}
    for name in artifacts.read_manifest(folder)["files"]:
        pages[base + name] = (folder / name).read_bytes()
    return pages


@pytest.fixture(scope="module")
def clients(cluster) -> dict[str, dict[str, requests.Session]]:
    """Per user, a session with a Bearer token from POST /auth/token and one with the UI's cookie from
    the login form; made once: FAB allows 5 form logins per 40 s from one address."""
    clients = {"anonymous": {"Bearer token": requests.Session(), "UI cookie": requests.Session()}}
    for user in USERS:
        bearer = requests.Session()
        bearer.headers["Authorization"] = f"Bearer {cluster.token(user)}"
        clients[user] = {"Bearer token": bearer, "UI cookie": cluster.ui_session(user)}
    return clients


def test_report_pages_answer_each_role_by_its_dag_permissions(cluster, runs, clients):
    """FAB: the admin reads both DAGs' reports, the reader only imdb_experiments', the outsider none,
    an anonymous request is asked to log in; the same through a Bearer token and the UI's cookie."""
    pages = {
        SENTIMENT: report_pages(cluster, SENTIMENT, runs["first"]),
        READ_ONLY_DAG: report_pages(cluster, READ_ONLY_DAG, runs["sweep"]),
    }
    assert len(pages[SENTIMENT]) >= 4 and len(pages[READ_ONLY_DAG]) >= 3
    outcomes = {}
    for user, ways in clients.items():
        for way, client in ways.items():
            for dag_id, dag_pages in pages.items():
                for url, content in dag_pages.items():
                    response = client.get(url, timeout=30)
                    outcomes.setdefault((user, dag_id, response.status_code), set()).add(way)
                    where = f"{user} ({way}) GET {url}"
                    if user == "anonymous":
                        assert response.status_code == 401, where
                        assert "Not logged in: log in to Airflow" in response.text, where
                    elif dag_id in MAY_READ[user]:
                        assert response.status_code == 200, f"{where}: {response.text[:300]}"
                        assert response.content == content, where
                    else:
                        assert response.status_code == 403, f"{where}: {response.text[:300]}"
                        assert response.headers["content-type"] == "text/html; charset=utf-8", where
                        assert f"may not read the runs of DAG {dag_id}," in response.text, where
                        assert content[:200] not in response.content, where
    summary = {key: sorted(ways) for key, ways in sorted(outcomes.items())}
    assert {(u, d, s) for u, d, s in summary} == {
        ("anonymous", SENTIMENT, 401),
        ("anonymous", READ_ONLY_DAG, 401),
        ("admin", SENTIMENT, 200),
        ("admin", READ_ONLY_DAG, 200),
        ("reader", SENTIMENT, 403),
        ("reader", READ_ONLY_DAG, 200),
        ("outsider", SENTIMENT, 403),
        ("outsider", READ_ONLY_DAG, 403),
    }
    # The report pages say whose run they are; the sweep's is the reader's to see.
    assert b"IMDB review sentiment" in next(iter(pages[SENTIMENT].values()))
    assert b"IMDB further experiments" in next(iter(pages[READ_ONLY_DAG].values()))


def test_the_models_page_answers_each_role(cluster, runs, clients):
    """The plugin's other page (imdb_airflow/models_page.py) shows imdb_sentiment's champions: the admin's,
    refused to the reader and the outsider, a login asked of an anonymous caller."""
    url = f"{cluster.base}/imdb-models/"
    for user, ways in clients.items():
        for way, client in ways.items():
            response = client.get(url, timeout=30)
            where = f"{user} ({way}) GET {url}"
            if user == "anonymous":
                assert response.status_code == 401, where
            elif user == "admin":
                assert response.status_code == 200, f"{where}: {response.text[:300]}"
                assert runs["first"] in response.text or runs["second"] in response.text, where
            else:
                assert response.status_code == 403, f"{where}: {response.text[:300]}"
                assert "may not read the runs of DAG imdb_sentiment," in response.text, where
