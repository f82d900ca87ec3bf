"""Real Airflow components started from this environment for a test, against the local PostgreSQL
(a fresh database each time) and, for Celery, the local Redis; stopped by process group."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

POSTGRES = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)
COMPONENTS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
    "celery-worker": ["celery", "worker"],
}
CELERY = "CeleryExecutor"


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

    def __init__(self, home: Path, env: dict[str, str], port: int, database: str, queue: str, executor: str):
        self.home, self.env, self.port, self.database, self.queue = home, env, port, database, queue
        self.executor = executor
        self.processes: dict[str, subprocess.Popen] = {}
        self.base = f"http://127.0.0.1:{port}"
        self.session = requests.Session()

    def airflow(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )

    def start(self) -> None:
        for name, args in COMPONENTS.items():
            if name == "celery-worker" and self.executor != CELERY:
                continue
            extra = ["--queues", self.queue, "--concurrency", "2"] if name == "celery-worker" else []
            log = open(self.home / f"{name}.log", "w")
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args, *extra],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
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
                assert process.poll() is None, (
                    f"{name} exited while waiting for {what}:\n{self.log(name)[-3000:]}"
                )
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
        response = requests.post(
            f"{self.base}/auth/token", json={"username": "admin", "password": passwords["admin"]}, timeout=10
        )
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


@contextlib.contextmanager
def running_cluster(home: Path, executor: str = CELERY, extra_env: dict[str, str] | None = None):
    """Migrate a fresh database, create the training pool, start the components, log in."""
    needed = (POSTGRES, REDIS) if executor == CELERY else (POSTGRES,)
    missing = [f"{host}:{port}" for host, port in needed if not reachable((host, port))]
    if missing:
        pytest.skip(
            f"needs PostgreSQL on 127.0.0.1:5432 (and Redis on 127.0.0.1:6379 for Celery); not reachable: {', '.join(missing)}"
        )
    tag = uuid.uuid4().hex[:10]
    database, queue, port = f"imdb_it_{tag}", f"imdb_it_{tag}", free_port()
    postgres(f"CREATE DATABASE {database}")
    url = f"postgresql+psycopg2://postgres@{POSTGRES[0]}:{POSTGRES[1]}/{database}"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
        "AIRFLOW__CORE__EXECUTOR": executor,
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
        **(extra_env or {}),
    }
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    cluster = Cluster(home, env, port, database, queue, executor)
    try:
        cluster.airflow("db", "migrate")
        cluster.airflow("pools", "set", "imdb_training", "1", "one training at a time")
        cluster.start()
        cluster.wait_for(
            "the api-server", lambda: requests.get(f"{cluster.base}/api/v2/version", timeout=5).ok
        )
        cluster.wait_for("the password file", lambda: (home / "passwords.json").exists())
        cluster.login()
        cluster.wait_for("the DAG to be parsed", lambda: cluster.api("GET", "/dags/imdb_sentiment").ok)
        yield cluster
    finally:
        cluster.stop()
        postgres(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
