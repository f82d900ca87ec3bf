"""The production topology without Docker: api-server, scheduler, dag-processor and a Celery
worker from this environment, against a fresh database on the local PostgreSQL and the local
Redis, driven as a client would through the REST API v2.

Needs PostgreSQL on 127.0.0.1:5432 (trust auth for user postgres) and Redis on 127.0.0.1:6379,
as on the CI machine; skipped, saying so, without them. A few minutes on tiny generated data.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest
import requests

from conftest import PROJECT, TINY_PARAMS

pytestmark = [pytest.mark.slow, pytest.mark.integration]
POSTGRES = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)
COMPONENTS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
    "celery-worker": ["celery", "worker"],
}


def reachable(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=2):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres(sql: str, database: str = "postgres") -> list[tuple]:
    import psycopg2

    connection = psycopg2.connect(host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname=database)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


class Cluster:
    """The started components, their logs, and a logged-in REST client."""

    def __init__(self, home: Path, env: dict[str, str], port: int, database: str, queue: str):
        self.home, self.env, self.port, self.database, self.queue = home, env, port, database, queue
        self.processes: dict[str, subprocess.Popen] = {}
        self.base = f"http://127.0.0.1:{port}"
        self.session = requests.Session()

    def airflow(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True, text=True, check=True, timeout=300)

    def start(self) -> None:
        for name, args in COMPONENTS.items():
            extra = ["--queues", self.queue, "--concurrency", "2"] if name == "celery-worker" else []
            log = open(self.home / f"{name}.log", "w")
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args, *extra], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped with everything it spawned
            )

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def log(self, name: str) -> str:
        return (self.home / f"{name}.log").read_text(errors="replace")

    def wait_for(self, what: str, check, timeout: float = 180) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                assert process.poll() is None, f"{name} exited while waiting for {what}:\n{self.log(name)[-3000:]}"
            try:
                result = check()
                if result:
                    return result
            except requests.RequestException:
                pass
            time.sleep(1)
        raise AssertionError(f"timed out waiting for {what}")

    def login(self) -> None:
        passwords = json.loads((self.home / "passwords.json").read_text())
        response = requests.post(f"{self.base}/auth/token", json={"username": "admin", "password": passwords["admin"]}, timeout=10)
        response.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, f"{self.base}/api/v2{path}", timeout=30, **kwargs)

    def trigger(self, conf: dict) -> str:
        response = self.api("POST", "/dags/imdb_sentiment/dagRuns", json={"logical_date": None, "conf": conf})
        assert response.status_code == 200, response.text
        return response.json()["dag_run_id"]

    def run_state(self, run_id: str) -> str:
        return self.api("GET", f"/dags/imdb_sentiment/dagRuns/{run_id}").json()["state"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, tiny_aclimdb_tarball):
    missing = [f"{host}:{port}" for host, port in (POSTGRES, REDIS) if not reachable((host, port))]
    if missing:
        pytest.skip(f"needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379; not reachable: {', '.join(missing)}")
    home = tmp_path_factory.mktemp("cluster")
    tag = uuid.uuid4().hex[:10]
    database, queue, port = f"imdb_it_{tag}", f"imdb_it_{tag}", free_port()
    postgres(f"CREATE DATABASE {database}")
    url = f"postgresql+psycopg2://postgres@{POSTGRES[0]}:{POSTGRES[1]}/{database}"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS[0]}:{REDIS[1]}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://postgres@{POSTGRES[0]}:{POSTGRES[1]}/{database}",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,  # this test's own queue on the shared Redis
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "IMDB_ARTIFACT_ROOT": str(home / "artifacts"),
        "IMDB_SCHEDULE": "none",  # only this test's runs
    }
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    cluster = Cluster(home, env, port, database, queue)
    try:
        cluster.airflow("db", "migrate")
        cluster.airflow("pools", "set", "imdb_training", "1", "one training at a time")
        cluster.start()
        cluster.wait_for("the api-server", lambda: requests.get(f"{cluster.base}/api/v2/version", timeout=5).ok)
        cluster.wait_for("the password file", lambda: (home / "passwords.json").exists())
        cluster.login()
        cluster.wait_for("the DAG to be parsed", lambda: cluster.api("GET", "/dags/imdb_sentiment").ok)
        yield cluster
    finally:
        cluster.stop()
        postgres(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def worker_tree_rss_mb(process: subprocess.Popen) -> float:
    root = psutil.Process(process.pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20


def test_triggered_runs_execute_on_the_celery_worker(cluster, tiny_aclimdb_tarball, capsys):
    started = time.monotonic()
    conf = {**TINY_PARAMS, "data_path": str(tiny_aclimdb_tarball)}
    refused = cluster.api("POST", "/dags/imdb_sentiment/dagRuns", json={"logical_date": None, "conf": {"num_words": 2}})
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
            state = cluster.wait_for(f"run {run_id}", lambda: (s := cluster.run_state(run_id)) in ("success", "failed") and s, timeout=600)
            assert state == "success", cluster.log("celery-worker")[-5000:]
    finally:
        stop_sampling.set()
        sampler.join()

    # The evaluate task's XCom through the API: paths into the run's own folder.
    xcom = cluster.api("GET", f"/dags/imdb_sentiment/dagRuns/{first}/taskInstances/evaluate/xcomEntries/return_value")
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
    rows = postgres(f"SELECT task_id, state, queue, hostname FROM task_instance WHERE run_id = '{first}'", cluster.database)
    assert sorted(r[0] for r in rows) == ["evaluate", "ingest", "report", "train", "vectorize"]
    assert {r[1] for r in rows} == {"success"} and {r[2] for r in rows} == {cluster.queue}
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
            f"per-task peak RSS MB {({task: t['peak_rss_mb'] for task, t in timings.items()})}"
        )
