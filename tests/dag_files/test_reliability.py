"""Faults that happen to a weekly pipeline, and what it does: nothing lost, nothing half-written.

docs/reliability.md tabulates these tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pendulum
import pytest
from http_fixtures import FlakyFileServer
from stage_runs import PROJECT, TINY_PARAMS

from imdb_pipeline.store import artifacts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT / "dags" / "imdb_sentiment.py")).dags["imdb_sentiment"]


def task_instance(dag_run, task_id):
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        return (
            session.query(TaskInstance)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id)
            .one()
        )


def test_flaky_download_is_retried_with_backoff_to_success(
    dag, airflow_db, tiny_aclimdb_tarball, artifact_root, monkeypatch
):
    """Reset, then HTTP 500, then the file: the ingest task's retries (exponential backoff) succeed."""
    payload = tiny_aclimdb_tarball.read_bytes()
    with FlakyFileServer(payload, "aclImdb_v1.tar.gz", ["reset", 500]) as server:
        monkeypatch.setenv("IMDB_ACLIMDB_URL", server.url)
        monkeypatch.setenv("IMDB_ACLIMDB_CHECKSUM", hashlib.sha256(payload).hexdigest())
        ingest = dag.get_task("ingest")
        monkeypatch.setattr(ingest, "retry_delay", timedelta(seconds=1))  # the policy, sped up for the test
        assert ingest.retries >= 2 and ingest.retry_exponential_backoff > 0
        dag_run = dag.test(
            run_conf={**TINY_PARAMS, "source": "aclimdb"},
            logical_date=pendulum.datetime(2026, 3, 2, tz="UTC"),
        )
    assert dag_run.state == "success"
    assert task_instance(dag_run, "ingest").try_number == 3
    assert server.gets() == 3
    cache = artifacts.cache_dir()
    cached = [p.name for p in cache.iterdir() if not p.name.endswith(".lock")]
    assert cached == ["aclImdb_v1.tar.gz"]  # exactly one verified copy, no partial file
    assert (cache / "aclImdb_v1.tar.gz").read_bytes() == payload


def test_training_killed_mid_fit_leaves_no_model_and_a_rerun_succeeds(tiny_run, tmp_path):
    """SIGKILL during the fit: no train/ folder claims a model; the next attempt replaces the leftovers."""
    import shutil

    for stage in ("ingest", "vectorize"):
        shutil.copytree(tiny_run["path"] / stage, tmp_path / stage)
    params = {**tiny_run["params"], "epochs": 400}
    command = [
        sys.executable,
        "-m",
        "imdb_pipeline.stages.runner",
        "--run-dir",
        str(tmp_path),
        "--stage",
        "train",
    ]
    command += [f"--param={name}={json.dumps(value)}" for name, value in params.items()]
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    )
    for line in process.stderr:
        if "validation run epoch 20/400" in line:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not (tmp_path / "train").exists()
    leftovers = list(tmp_path.glob(".train.partial-*"))
    assert leftovers and not any((p / "manifest.json").exists() for p in leftovers)

    from imdb_pipeline.stages.runner import run_stage

    outputs = run_stage("train", tiny_run["params"], tmp_path)  # the retry
    assert not list(tmp_path.glob(".train.partial-*"))
    rerun = artifacts.read_json(outputs["history"])
    original = artifacts.read_json(tiny_run["outputs"]["train"]["history"])
    assert rerun["parameters"] == original["parameters"]
    assert (
        abs(
            rerun["validation_history"]["val_accuracy"][-1]
            - original["validation_history"]["val_accuracy"][-1]
        )
        <= 0.05
    )


def test_rerunning_a_finished_task_replaces_its_outputs_atomically(tiny_run, tmp_path):
    """A rerun with other params swaps in a complete folder; readers verify against its manifest."""
    import shutil

    from imdb_pipeline.stages.runner import gather_inputs, run_stage

    shutil.copytree(tiny_run["path"] / "ingest", tmp_path / "ingest")
    first = run_stage("vectorize", tiny_run["params"], tmp_path)
    first_manifest = artifacts.read_manifest(tmp_path / "vectorize")
    second = run_stage("vectorize", {**tiny_run["params"], "num_words": 30}, tmp_path)
    assert first == second  # same paths, new content
    manifest = artifacts.read_manifest(tmp_path / "vectorize")
    assert manifest["config"]["num_words"] == 30 and manifest["files"] != first_manifest["files"]
    inputs = gather_inputs(
        "train", tmp_path, {"ingest": None, "vectorize": first}
    )  # verified against the new manifest
    assert artifacts.load_arrays(inputs["train_multi_hot"])["num_words"] == 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ingest", "vectorize"]


@pytest.mark.parametrize(
    ("conf", "task_id", "message"),
    [
        ({"data_path": "/nonexistent/aclImdb_v1.tar.gz"}, "ingest", "does not exist on this worker"),
        ({"validation_size": 5000}, "vectorize", "leaves no training reviews"),
        ({"num_words": 5000}, "vectorize", "larger than the vocabulary"),
    ],
)
def test_bad_input_fails_fast_without_retries_and_writes_nothing(
    dag, airflow_db, tiny_aclimdb_tarball, artifact_root, conf, task_id, message, capfd
):
    run_conf = {**TINY_PARAMS, "data_path": str(tiny_aclimdb_tarball), **conf}
    dag_run = dag.test(
        run_conf=run_conf, logical_date=pendulum.datetime(2026, 3, 3 + len(message) % 20, tz="UTC")
    )
    assert dag_run.state == "failed"
    ti = task_instance(dag_run, task_id)
    assert ti.state == "failed" and ti.try_number == 1
    output = capfd.readouterr()
    assert message in output.out + output.err
    assert not (artifact_root / "imdb_sentiment" / dag_run.run_id / task_id).exists()


def test_report_escapes_hostile_words_and_paths_end_to_end(tmp_path, artifact_root, tiny_keras_npz):
    """Markup that survives to the page — a word of a Keras word index (its example reviews are decoded
    with it) and a parameter (the data path) — reaches it only as text."""
    from sample_data import SMALL_PARAMS

    from imdb_pipeline.stages.runner import run_pipeline

    folder = tmp_path / "<b onmouseover=alert(1)>data"
    folder.mkdir()
    dataset = folder / "imdb.npz"
    shutil.copyfile(tiny_keras_npz, dataset)
    word_index = json.loads((tiny_keras_npz.parent / "imdb_word_index.json").read_text())
    word_index = {
        ("<script>alert(1)</script>" if rank == 1 else word): rank for word, rank in word_index.items()
    }
    (folder / "imdb_word_index.json").write_text(json.dumps(word_index))
    outputs = run_pipeline({**SMALL_PARAMS, "data_path": str(dataset)}, tmp_path / "run")
    html = Path(outputs["report"]["report"]).read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the hostile word is on the page, as text
    assert "<script" not in html and "<b onmouseover" not in html
    assert "&lt;b onmouseover=alert(1)&gt;data" in html


def test_no_secrets_and_a_loopback_api_by_default():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert ".env" not in tracked and ".env.example" in tracked
    ignored = subprocess.run(["git", "check-ignore", ".env"], cwd=PROJECT, capture_output=True, text=True)
    assert ignored.returncode == 0, ".env must be git-ignored"
    assert (
        'AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"'
        in (PROJECT / "scripts" / "env.sh").read_text()
    )
    assert '"127.0.0.1:8080:8080"' in (PROJECT / "docker-compose.yaml").read_text()


@pytest.mark.integration
def test_two_runs_at_once_share_one_download_and_keep_separate_artifacts(tmp_path, tiny_aclimdb_tarball):
    """LocalExecutor, parallelism 4, two active runs with different params, one slow download."""
    from airflow_cluster import running_cluster

    payload = tiny_aclimdb_tarball.read_bytes()
    with FlakyFileServer(payload, "aclImdb_v1.tar.gz", [], delay=3.0) as server:
        extra = {
            "IMDB_MAX_ACTIVE_RUNS": "2",
            "IMDB_ACLIMDB_URL": server.url,
            "IMDB_ACLIMDB_CHECKSUM": hashlib.sha256(payload).hexdigest(),
        }
        with running_cluster(tmp_path / "cluster", "LocalExecutor", extra) as cluster:
            conf = {**TINY_PARAMS, "source": "aclimdb"}
            runs = {
                cluster.trigger({**conf, "num_words": 40}): 40,
                cluster.trigger({**conf, "num_words": 30}): 30,
            }
            for run_id in runs:
                state = cluster.wait_for(
                    f"run {run_id}",
                    lambda run_id=run_id: (s := cluster.run_state(run_id)) in ("success", "failed") and s,
                    timeout=600,
                )
                assert state == "success", cluster.log("scheduler")[-4000:]
            ingests = [
                cluster.api("GET", f"/dags/imdb_sentiment/dagRuns/{run_id}/taskInstances/ingest").json()
                for run_id in runs
            ]
    # The ingest tasks overlapped, yet the slow file was fetched once; the other waited on the lock.
    first, second = sorted(ingests, key=lambda ti: ti["start_date"])
    assert second["start_date"] < first["end_date"]
    assert server.gets() == 1
    cache = cluster.home / "artifacts" / "cache"
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == ["aclImdb_v1.tar.gz"]
    for run_id, num_words in runs.items():
        metrics = json.loads(
            (cluster.home / "artifacts" / "imdb_sentiment" / run_id / "report" / "metrics.json").read_text()
        )
        assert metrics["config"]["num_words"] == num_words and metrics["test_accuracy"] > 0.8
