"""The production topology with the artifacts in a bucket and two Celery workers that share no folder.

api-server, scheduler and dag-processor as in ``test_production_topology``; two Celery workers, each
with its own working directory, HOME, TMPDIR, AIRFLOW_HOME (so its task logs stay its own) and
IMDB_LOCAL_CACHE, one slot each. The artifact root is a fresh bucket on the session's S3 API server
(``tests/s3_server.py``), reached only through the Airflow connection named by IMDB_ARTIFACT_CONN_ID
(an ``AIRFLOW_CONN_...`` variable): no Airflow process has an ``AWS_*`` variable. One sweep whose
mapped trainings run on both workers, one imdb_sentiment run that promotes a champion, one imdb_score
run scoring a file put into the bucket's inbox; then every artifact is in the bucket, and on the
workers' disks only in their caches.

Which worker ran a task: Airflow records as a task instance's ``hostname`` its ``[core]
hostname_callable`` (the machine's FQDN), not Celery's node name, so both workers show the same
hostname here; the proof is each worker's own task-log folder, and the task's ``pid`` seen in that
worker's process tree while it ran.

Needs PostgreSQL on 127.0.0.1:5432 (trust auth for user postgres) and Redis on 127.0.0.1:6379;
skipped, saying so, without them. About three minutes on tiny generated data (half of it starting up).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest
from airflow_cluster import CELERY, Worker, free_port, running_cluster
from stage_runs import TINY_PARAMS

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SENTIMENT, SWEEP, SCORE = "imdb_sentiment", "imdb_experiments", "imdb_score"
GRID = [{"name": "book"}, {"name": "wide", "units": 8}, {"name": "one layer", "hidden_layers": 1}]
CONN_ID = "imdb_artifacts"
PREFIX = "artifacts"  # the artifact root is s3://<bucket>/artifacts
WORKERS = ("worker-a", "worker-b")
WORKER_FOLDERS = ("cwd", "home", "tmp", "airflow", "cache")
INBOX_FILE = "reviews.txt"
REVIEWS = "a wonderful film, great acting\nterrible plot and awful pacing\nbrilliant, loved it\n"
SENTIMENT_STAGES = {"ingest", "vectorize", "train", "evaluate", "gate", "report", "promote"}
SWEEP_STAGES = {"ingest", "vectorize-w40-n1", "train-00", "train-01", "train-02", "evaluate", "report"}


def s3_client(s3_server):
    import boto3
    from s3_server import CREDENTIALS

    return boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def bucket_keys(client, bucket: str) -> list[str]:
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def worker(base: Path, name: str, tag: str) -> Worker:
    """A worker with folders of its own under ``base/name`` and no AWS_* variable (nor XDG_* or
    matplotlib/keras folders pointing elsewhere): it reaches the bucket through the connection only."""
    root = base / name
    folders = {folder: root / folder for folder in WORKER_FOLDERS}
    for folder in folders.values():
        folder.mkdir(parents=True)
    elsewhere = [
        n for n in os.environ if n.startswith(("AWS_", "XDG_")) or n in ("MPLCONFIGDIR", "KERAS_HOME")
    ]
    env = {
        **dict.fromkeys(elsewhere),
        "HOME": str(folders["home"]),
        "TMPDIR": str(folders["tmp"]),
        "AIRFLOW_HOME": str(folders["airflow"]),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(folders["airflow"] / "logs"),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),  # two log servers on one machine
        "IMDB_LOCAL_CACHE": str(folders["cache"]),
    }
    return Worker(name, env, folders["cwd"], concurrency=1, celery_hostname=f"{name}-{tag}")


@pytest.fixture(scope="module")
def bucket(s3_server) -> str:
    name = f"imdb-topology-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(name)
    return name


@pytest.fixture(scope="module")
def s3(s3_server):
    return s3_client(s3_server)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, s3_server, bucket):
    base = tmp_path_factory.mktemp("bucket-cluster")
    home = base / "scheduler-and-api-server"
    home.mkdir()
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": s3_server.endpoint, "region_name": "us-east-1"},
    }
    env = {
        **dict.fromkeys(n for n in os.environ if n.startswith("AWS_")),  # the connection, nothing else
        "IMDB_ARTIFACT_ROOT": f"s3://{bucket}/{PREFIX}",
        "IMDB_ARTIFACT_CONN_ID": CONN_ID,
        f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(connection),
        "IMDB_LOCAL_CACHE": str(home / "local-cache"),  # the api-server's (the Report tab reads through it)
        "IMDB_SCORE_SCHEDULE": "none",  # imdb_score runs on its assets and this test's trigger only
    }
    tag = uuid.uuid4().hex[:8]
    workers = [worker(base, name, tag) for name in WORKERS]
    with running_cluster(home, CELERY, extra_env=env, workers=workers) as started:
        started.wait_for(f"{SCORE} to be parsed", lambda: started.api("GET", f"/dags/{SCORE}").ok)
        yield started


class ProcessSampler:
    """Every pid seen in each worker's process tree while running (a task's pid is its task process)."""

    def __init__(self, cluster):
        self.roots = {name: psutil.Process(cluster.processes[name].pid) for name in WORKERS}
        self.seen: dict[str, set[int]] = {name: set() for name in WORKERS}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def sample(self) -> None:
        while not self.stop.is_set():
            for name, root in self.roots.items():
                with contextlib.suppress(psutil.Error):
                    self.seen[name].update(p.pid for p in [root, *root.children(recursive=True)])
            time.sleep(0.1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def wait_for_run(cluster, dag_id: str, run_id: str, timeout: float = 600) -> None:
    state = cluster.wait_for(
        f"run {run_id} of {dag_id}",
        lambda: (s := cluster.run_state(run_id, dag_id)) in ("success", "failed") and s,
        timeout=timeout,
    )
    logs = "\n".join(f"--- {name}:\n{cluster.log(name)[-3000:]}" for name in WORKERS)
    assert state == "success", (
        f"{dag_id} run {run_id} {state}; task logs under each worker's airflow/logs\n{logs}"
    )


def task_instances(cluster, dag_id: str, run_id: str) -> list[dict]:
    response = cluster.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["task_instances"]


def score_runs(cluster) -> list[dict]:
    return cluster.api("GET", f"/dags/{SCORE}/dagRuns").json()["dag_runs"]


@pytest.fixture(scope="module")
def runs(cluster, s3, bucket, tiny_aclimdb_tarball) -> dict:
    """The sweep, then an imdb_sentiment run that promotes, then imdb_score on a file in the inbox."""
    started = time.monotonic()
    conf = {**TINY_PARAMS, "data_path": str(tiny_aclimdb_tarball)}  # the data: an input every worker reads
    with ProcessSampler(cluster) as sampler:
        sweep = cluster.trigger({**conf, "grid": GRID}, dag_id=SWEEP)
        wait_for_run(cluster, SWEEP, sweep)
        sentiment = cluster.trigger({**conf, "min_accuracy": 0.0})  # the first model becomes the champion
        wait_for_run(cluster, SENTIMENT, sentiment)
        # The promotion's asset event starts an imdb_score run on the still empty inbox: let it finish
        # first, so that the file below is scored by the run this test triggers.
        (by_event,) = cluster.wait_for(
            f"the {SCORE} run of the champion's asset event",
            lambda: [
                run["dag_run_id"] for run in score_runs(cluster) if run["run_type"] == "asset_triggered"
            ],
            timeout=120,
        )
        wait_for_run(cluster, SCORE, by_event)
        s3.put_object(Bucket=bucket, Key=f"{PREFIX}/inbox/{INBOX_FILE}", Body=REVIEWS.encode())
        score = cluster.trigger({}, dag_id=SCORE)
        wait_for_run(cluster, SCORE, score)
    return {
        "sweep": sweep,
        "sentiment": sentiment,
        "score": score,
        "score_by_event": by_event,
        "score_runs": {run["dag_run_id"]: (run["run_type"], run["state"]) for run in score_runs(cluster)},
        "pids": sampler.seen,
        "seconds": time.monotonic() - started,
    }


def worker_root(cluster, name: str) -> Path:
    return cluster.workers[name].cwd.parent


def task_log(cluster, name: str, ti: dict) -> Path:
    """Where a task instance's log is in this worker's own log folder (if it ran there)."""
    folder = worker_root(cluster, name) / "airflow" / "logs" / f"dag_id={ti['dag_id']}"
    folder = folder / f"run_id={ti['dag_run_id']}" / f"task_id={ti['task_id']}"
    if ti["map_index"] >= 0:
        folder = folder / f"map_index={ti['map_index']}"
    return folder / f"attempt={ti['try_number']}.log"


def executed(cluster, runs) -> list[tuple[dict, str]]:
    """Every task instance that ran (not skipped) in the test's runs, with the worker whose own log
    folder holds its log; each is in exactly one."""
    found = []
    for dag_id, name in (
        (SWEEP, "sweep"),
        (SENTIMENT, "sentiment"),
        (SCORE, "score_by_event"),
        (SCORE, "score"),
    ):
        for ti in task_instances(cluster, dag_id, runs[name]):
            if ti["state"] == "skipped":
                continue
            assert ti["state"] == "success", ti
            where = [name for name in WORKERS if task_log(cluster, name, ti).is_file()]
            label = f"{dag_id}.{ti['task_id']}[{ti['map_index']}]"
            assert len(where) == 1, f"{label}'s log is in {where or 'no'} worker's log folder"
            found.append((ti, where[0]))
    return found


def test_the_workers_share_no_folder_and_have_no_storage_credentials(cluster):
    folders = {}
    for name in WORKERS:
        env = cluster.worker_env(name)
        assert not [n for n in env if n.startswith("AWS_")], f"{name} has AWS_* variables"
        assert env["IMDB_ARTIFACT_CONN_ID"] == CONN_ID and env["IMDB_ARTIFACT_ROOT"].startswith("s3://")
        folders[name] = {env["HOME"], env["TMPDIR"], env["AIRFLOW_HOME"], env["IMDB_LOCAL_CACHE"]}
        folders[name].add(str(cluster.workers[name].cwd))
    assert not folders["worker-a"] & folders["worker-b"]
    assert not [n for n in cluster.env if n.startswith("AWS_")]


def test_the_sweeps_trainings_ran_on_both_workers(cluster, runs, capsys):
    """Each training's log is in one worker's own log folder, its task process was seen in that
    worker's process tree, and that worker's Celery node logged executing it."""
    sweep = runs["sweep"]
    trains = sorted(
        (ti for ti in task_instances(cluster, SWEEP, sweep) if ti["task_id"] == "train"),
        key=lambda ti: ti["map_index"],
    )
    assert [ti["map_index"] for ti in trains] == list(range(len(GRID)))
    assert {ti["state"] for ti in trains} == {"success"}
    assert [ti["rendered_map_index"] for ti in trains] == [trial["name"] for trial in GRID]

    ran_on = {}
    for ti in trains:
        where = [name for name in WORKERS if task_log(cluster, name, ti).is_file()]
        assert len(where) == 1, f"train[{ti['map_index']}]'s log is in {where or 'no'} worker's log folder"
        ran_on[ti["map_index"]] = where[0]
        assert ti["pid"] in runs["pids"][where[0]], (
            f"train[{ti['map_index']}] pid {ti['pid']} not on {where[0]}"
        )
        node_log = cluster.log(where[0])
        assert f"celery@{cluster.workers[where[0]].celery_hostname} ready." in node_log
        assert f"run_id={sweep}/task_id=train/map_index={ti['map_index']}/" in node_log
    assert set(ran_on.values()) == set(WORKERS), f"every training ran on one worker: {ran_on}"

    # Airflow records its hostname_callable (the machine's name) as the TI hostname, not Celery's node.
    hostnames = {ti["hostname"] for ti in trains}
    assert len(hostnames) == 1 and "" not in hostnames, hostnames
    by_worker = {name: sum(where == name for _, where in executed(cluster, runs)) for name in WORKERS}
    with capsys.disabled():
        print(
            f"\nbucket topology: sweep, imdb_sentiment, imdb_score on 2 workers in {runs['seconds']:.0f} s; "
            f"trainings (map index: worker, pid, TI hostname): "
            f"{ {ti['map_index']: (ran_on[ti['map_index']], ti['pid'], ti['hostname']) for ti in trains} }; "
            f"task instances per worker {by_worker}; imdb_score runs {runs['score_runs']}"
        )


def test_every_task_reached_the_bucket_through_the_connection(cluster, runs):
    """No worker has AWS_* variables: every task made its file system from the Airflow connection."""
    for ti, where in executed(cluster, runs):
        text = task_log(cluster, where, ti).read_text(errors="replace")
        assert f"conn_id='{CONN_ID}'" in text, f"{ti['task_id']} on {where} did not use the connection"


def read_object(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def stage_file(s3, bucket: str, stage: str, output: str) -> bytes:
    """An output of a finished stage (``<prefix>/<...>/<stage>``) through its manifest."""
    manifest = json.loads(read_object(s3, bucket, f"{stage}/manifest.json"))
    return read_object(s3, bucket, f"{stage}/{manifest['folder']}/{manifest['outputs'][output]}")


def test_every_artifact_is_in_the_bucket(cluster, runs, s3, bucket):
    keys = bucket_keys(s3, bucket)
    stages = {
        name: {
            key.split("/")[3]
            for key in keys
            if key.startswith(f"{PREFIX}/{dag_id}/{runs[name]}/") and key.endswith("/manifest.json")
        }
        for dag_id, name in ((SWEEP, "sweep"), (SENTIMENT, "sentiment"), (SCORE, "score"))
    }
    assert stages == {"sweep": SWEEP_STAGES, "sentiment": SENTIMENT_STAGES, "score": {"score"}}

    version = json.loads(read_object(s3, bucket, f"{PREFIX}/champion"))["version"]
    assert f"{PREFIX}/champions/{version}/manifest.json" in keys
    info = json.loads(stage_file(s3, bucket, f"{PREFIX}/champions/{version}", "info"))
    assert info["run"] == runs["sentiment"], info

    scored = [k for k in keys if k.startswith(f"{PREFIX}/scored/{version}/") and k.endswith("/manifest.json")]
    assert len(scored) == 1 and INBOX_FILE in scored[0], scored
    batch = scored[0].removesuffix("/manifest.json")
    rows = stage_file(s3, bucket, batch, "scores").decode().splitlines()
    assert len(rows) == len(REVIEWS.splitlines())
    summary = json.loads(stage_file(s3, bucket, f"{PREFIX}/{SCORE}/{runs['score']}/score", "summary"))
    assert summary["model_version"] == version
    assert [(b["file"], b["status"]) for b in summary["batches"]] == [(INBOX_FILE, "scored")], summary


def test_the_api_server_serves_the_report_and_the_champion_from_the_bucket(cluster, runs, s3, bucket):
    """The Report tab and the Models page read the bucket through the api-server's connection."""
    run = runs["sentiment"]
    report = stage_file(s3, bucket, f"{PREFIX}/{SENTIMENT}/{run}/report", "report")
    page = cluster.session.get(f"{cluster.base}/imdb-reports/{SENTIMENT}/{quote(run, safe='')}/", timeout=60)
    assert page.status_code == 200, page.text[:500]
    assert page.content == report
    models = cluster.session.get(f"{cluster.base}/imdb-models/", timeout=60)
    assert models.status_code == 200 and run in models.text, models.text[:500]


def test_no_run_artifact_on_a_workers_disk_but_in_its_cache(cluster, runs, s3, bucket):
    """Nothing the runs wrote (a file named as in any manifest in the bucket) is on a worker's disk
    outside its IMDB_LOCAL_CACHE, and no process made a local artifact root."""
    written = {"manifest.json", INBOX_FILE}
    for key in bucket_keys(s3, bucket):
        if key.endswith("/manifest.json"):
            written |= set(json.loads(read_object(s3, bucket, key)).get("files", {}))
    assert {"model.keras", "report.html", "scores.jsonl"} <= written, written
    for name in WORKERS:
        root = worker_root(cluster, name)
        cache = root / "cache"
        strays = [
            path
            for path in root.rglob("*")
            if path.is_file() and not path.is_relative_to(cache) and path.name in written
        ]
        assert not strays, f"{name} holds run artifacts outside its cache: {strays}"
        assert not [path for path in root.rglob("artifacts") if path.is_dir()], name
        assert list((cache / "stages").glob("*/manifest.json")), f"{name} read nothing through its cache"
    assert not (cluster.home / "artifacts").exists()
