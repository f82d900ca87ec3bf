"""Real Airflow components started from this environment for a test, against the local PostgreSQL
(a fresh database each time) and, for Celery, the local Redis; stopped by process group. They run the
auth manager of docker-compose.yaml (read from that file, so the two cannot drift apart), with the
users of ``USERS``: an admin, a reader of one DAG, and a user who may use the UI but read no DAG.
Celery runs one worker by default, or the ``Worker``s given, each with its own environment and folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
import requests
import yaml
from stage_runs import PROJECT

POSTGRES = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)
COMPONENTS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
}
CELERY = "CeleryExecutor"
FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
SIMPLE = (
    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"  # airflow standalone's
)


def compose_auth_manager() -> str:
    """The ``AIRFLOW__CORE__AUTH_MANAGER`` every Airflow service of docker-compose.yaml runs."""
    compose = yaml.safe_load((PROJECT / "docker-compose.yaml").read_text())
    return compose["x-airflow-common"]["environment"]["AIRFLOW__CORE__AUTH_MANAGER"]


AUTH_MANAGER = compose_auth_manager()
# What the UI needs to show a run and its tabs, without "DAGs" (every DAG); docs/auth.md has the commands.
READER_PERMISSIONS = ["DAG Runs", "Task Instances", "Website", "Plugins"]
READ_ONLY_DAG = "imdb_experiments"
ROLES = {
    "imdb_experiments_reader": [*READER_PERMISSIONS, f"DAG:{READ_ONLY_DAG}"],
    "imdb_no_dags": READER_PERMISSIONS,
}
USERS = {"admin": "Admin", "reader": "imdb_experiments_reader", "outsider": "imdb_no_dags"}


@dataclasses.dataclass(frozen=True)
class Worker:
    """A Celery worker to start: its name (its output goes to ``<cluster home>/<name>.log``), what its
    environment changes from the cluster's (``None`` unsets a variable), its working directory (None:
    the test's), its slots and its Celery node name (``airflow celery worker --celery-hostname``)."""

    name: str = "celery-worker"
    env: Mapping[str, str | None] = dataclasses.field(default_factory=dict)
    cwd: Path | None = None
    concurrency: int = 2
    celery_hostname: str | None = None

    def command(self, queue: str) -> list[str]:
        node = ["--celery-hostname", self.celery_hostname] if self.celery_hostname else []
        return ["celery", "worker", "--queues", queue, "--concurrency", str(self.concurrency), *node]


def with_changes(env: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    """``env`` with ``changes`` applied: a value sets the variable, ``None`` removes it."""
    changed = dict(env)
    for name, value in changes.items():
        if value is None:
            changed.pop(name, None)
        else:
            changed[name] = value
    return changed


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
    """The started components, their logs, the users' passwords, and a REST client logged in as admin."""

    def __init__(
        self,
        home: Path,
        env: dict[str, str],
        port: int,
        database: str,
        queue: str,
        executor: str,
        workers: Sequence[Worker] = (),
    ):
        self.home, self.env, self.port, self.database = home, env, port, database
        self.queue, self.executor = queue, executor
        self.workers = {worker.name: worker for worker in workers} if executor == CELERY else {}
        self.processes: dict[str, subprocess.Popen] = {}
        self.base = f"http://127.0.0.1:{port}"
        self.session = requests.Session()
        self.passwords = {user: secrets.token_urlsafe(12) for user in USERS}

    def airflow(self, *args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "airflow", *args]
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"airflow {' '.join(args[:2])} failed:\n{result.stdout}{result.stderr}"
        return result

    def create_users(self, *, with_roles: bool) -> None:
        """The admin at once (as compose's airflow-init does); the other roles need the DAGs' permissions,
        which exist once the dag-processor has parsed them."""
        if with_roles:
            self.airflow("roles", "create", *ROLES)
            for role, resources in ROLES.items():
                self.airflow("roles", "add-perms", role, "--action", "can_read", "--resource", *resources)
        for user, role in USERS.items():
            if (role == "Admin") != with_roles:
                names = ["--email", f"{user}@example.com", "--firstname", user, "--lastname", "test"]
                password = [f"--password={self.passwords[user]}"]  # may start with "-"
                self.airflow("users", "create", "--username", user, *password, "--role", role, *names)

    def worker_env(self, name: str) -> dict[str, str]:
        """The environment the worker ``name`` runs with: the cluster's with the worker's changes."""
        return with_changes(self.env, self.workers[name].env)

    def start(self) -> None:
        for name, args in COMPONENTS.items():
            self._spawn(name, args, self.env)
        for name, worker in self.workers.items():
            self._spawn(name, worker.command(self.queue), self.worker_env(name), worker.cwd)

    def _spawn(self, name: str, args: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        with open(self.home / f"{name}.log", "w") as log:  # the child keeps its own copy
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args],
                env=env,
                cwd=cwd,
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

    def token(self, user: str) -> str:
        """A JWT from the auth manager's token endpoint (FAB: ``POST /auth/token``, 201)."""
        credentials = {"username": user, "password": self.passwords[user]}
        response = requests.post(f"{self.base}/auth/token", json=credentials, timeout=30)
        assert response.status_code in (200, 201), response.text
        return response.json()["access_token"]

    def ui_session(self, user: str) -> requests.Session:
        """A browser's session after the login form: the UI's ``_token`` cookie, no Authorization header."""
        session = requests.Session()
        form = session.get(f"{self.base}/auth/login/", timeout=30)
        csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form.text)
        assert csrf, f"no login form at /auth/login/:\n{form.text[:500]}"
        credentials = {"username": user, "password": self.passwords[user], "csrf_token": csrf.group(1)}
        session.post(f"{self.base}/auth/login/", data=credentials, timeout=30)
        assert session.cookies.get("_token"), f"{user} could not log in through /auth/login/"
        return session

    def login(self) -> None:
        self.session.headers["Authorization"] = f"Bearer {self.token('admin')}"

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, f"{self.base}/api/v2{path}", timeout=30, **kwargs)

    def trigger(self, conf: dict, dag_id: str = "imdb_sentiment") -> str:
        response = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
        assert response.status_code == 200, response.text
        return response.json()["dag_run_id"]

    def run_state(self, run_id: str, dag_id: str = "imdb_sentiment") -> str:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"]


@contextlib.contextmanager
def running_cluster(
    home: Path,
    executor: str = CELERY,
    extra_env: Mapping[str, str | None] | None = None,
    auth_manager: str = AUTH_MANAGER,
    workers: Sequence[Worker] = (Worker(),),
    triggerer: bool = False,
):
    """Migrate a fresh database, create the pool and the users, start the components (the triggerer
    too, if asked: it runs the inbox's flag watcher), log in as admin.
    With ``SIMPLE`` (the README's ``airflow standalone`` path) there is only the admin, whose password the
    api-server generates. ``extra_env`` changes every component's environment (``None`` unsets a
    variable); with Celery, ``workers`` are started, each with its own changes on top."""
    simple = auth_manager == SIMPLE
    assert simple or (AUTH_MANAGER == FAB and importlib.util.find_spec("airflow.providers.fab")), (
        f"these tests create FAB users and roles: docker-compose.yaml runs {AUTH_MANAGER}, and the FAB "
        "provider must be installed (pip install -r requirements.txt)"
    )
    needed = (POSTGRES, REDIS) if executor == CELERY else (POSTGRES,)
    missing = [f"{host}:{port}" for host, port in needed if not reachable((host, port))]
    if missing:
        pytest.skip(
            "needs PostgreSQL on 127.0.0.1:5432 (and Redis on 127.0.0.1:6379 for Celery); "
            f"not reachable: {', '.join(missing)}"
        )
    tag = uuid.uuid4().hex[:10]
    database, queue, port = f"imdb_it_{tag}", f"imdb_it_{tag}", free_port()
    postgres(f"CREATE DATABASE {database}")
    url = f"postgresql+psycopg2://postgres@{POSTGRES[0]}:{POSTGRES[1]}/{database}"
    names = [worker.name for worker in workers]
    assert len(set(names)) == len(names) and not set(names) & set(COMPONENTS), f"worker names {names}"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__AUTH_MANAGER": auth_manager,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS[0]}:{REDIS[1]}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://postgres@{POSTGRES[0]}:{POSTGRES[1]}/{database}",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,  # this test's own queue on the shared Redis
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "IMDB_ARTIFACT_ROOT": str(home / "artifacts"),
        "IMDB_SCHEDULE": "none",  # only this test's runs
    }
    env = with_changes(env, extra_env or {})
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    cluster = Cluster(home, env, port, database, queue, executor, workers)
    try:
        cluster.airflow("db", "migrate")
        cluster.airflow("pools", "set", "imdb_training", "1", "one training at a time")
        if not simple:
            cluster.create_users(with_roles=False)
        cluster.start()
        if triggerer:
            cluster._spawn("triggerer", ["triggerer"], cluster.env)
        cluster.wait_for(
            "the api-server", lambda: requests.get(f"{cluster.base}/api/v2/version", timeout=5).ok
        )
        if simple:
            generated = home / "simple_auth_manager_passwords.json.generated"
            cluster.passwords = {"admin": json.loads(generated.read_text())["admin"]}
        cluster.login()
        for dag_id in ("imdb_sentiment", READ_ONLY_DAG):
            cluster.wait_for(f"{dag_id} to be parsed", lambda d=dag_id: cluster.api("GET", f"/dags/{d}").ok)
        if not simple:
            cluster.create_users(with_roles=True)
        yield cluster
    finally:
        cluster.stop()
        postgres(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
