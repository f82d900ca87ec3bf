"""The whole DAG on tiny generated data: `dag.test()` in-process, and `airflow tasks test` task by task."""

import json
import os
import subprocess
import sys

import pendulum
import pytest
from stage_runs import PROJECT, TINY_PARAMS

from imdb_pipeline.store import artifacts

pytestmark = pytest.mark.slow
STAGES = ["ingest", "vectorize", "train", "evaluate", "gate", "report"]


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT / "dags" / "imdb_sentiment.py")).dags["imdb_sentiment"]


def task_states(dag_run) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
        return {ti.task_id: ti.state for ti in rows}


def test_dag_run_succeeds_and_writes_every_artifact(dag, airflow_db, tiny_aclimdb_tarball, artifact_root):
    conf = {**TINY_PARAMS, "data_path": str(tiny_aclimdb_tarball), "min_accuracy": 0.6}
    dag_run = dag.test(run_conf=conf, logical_date=pendulum.datetime(2026, 1, 5, tz="UTC"))
    assert dag_run.state == "success"
    assert set(task_states(dag_run).values()) == {"success"}
    run_path = artifact_root / "imdb_sentiment" / dag_run.run_id
    for stage in [*STAGES, "promote"]:
        assert (run_path / stage / "manifest.json").is_file(), stage
    metrics = artifacts.read_json(run_path / "report" / "metrics.json")
    assert metrics["config"]["data_path"] == str(tiny_aclimdb_tarball)
    assert metrics["test_accuracy"] > 0.8
    assert (run_path / "report" / "report.html").is_file()
    # XCom carries paths into the run folder, never arrays.
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, key="return_value", dag_ids="imdb_sentiment")
        ).all()
        values = {row.task_id: XComModel.deserialize_value(row) for row in rows}
    assert set(values) == set(STAGES) | {"promote"}
    assert set(values["evaluate"]) == {"evaluation", "predictions"}
    for outputs in values.values():
        assert all(isinstance(path, str) and path.startswith(str(run_path)) for path in outputs.values())


def test_a_blessed_run_becomes_champion_and_a_bad_one_does_not(
    dag, airflow_db, tiny_aclimdb_tarball, artifact_root
):
    """The issue's scenario: run 1 is blessed and promoted; run 2 (learning_rate 10) is not, and its
    promote task is skipped with the champion unchanged."""
    from imdb_pipeline.store import model_store

    conf = {**TINY_PARAMS, "data_path": str(tiny_aclimdb_tarball), "min_accuracy": 0.6}
    good = dag.test(run_conf=conf, logical_date=pendulum.datetime(2026, 1, 8, tz="UTC"))
    assert good.state == "success" and task_states(good)["promote"] == "success"
    first = model_store.current()
    assert first["run"] == good.run_id and first["previous"] is None
    assert (model_store.champion_dir() / "model.keras").is_file()

    bad = dag.test(
        run_conf={**conf, "learning_rate": 10}, logical_date=pendulum.datetime(2026, 1, 9, tz="UTC")
    )
    assert bad.state == "success"  # a model that is not blessed is an outcome, not a failure
    assert task_states(bad)["promote"] == "skipped"
    assert model_store.current() == first
    metrics = artifacts.read_json(artifact_root / "imdb_sentiment" / bad.run_id / "report" / "metrics.json")
    assert metrics["gate"]["blessed"] is False
    assert "not blessed" in metrics["gate"]["reason"] and first["version"] in metrics["gate"]["reason"]


def test_bad_param_is_refused_before_any_task_runs(dag, airflow_db, artifact_root):
    from airflow.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="num_words"):
        dag.test(run_conf={"num_words": 2}, logical_date=pendulum.datetime(2026, 1, 6, tz="UTC"))
    assert not (artifact_root / "imdb_sentiment").exists()


def test_bad_input_fails_the_task_once_without_retries(dag, airflow_db, tmp_path, artifact_root):
    conf = {**TINY_PARAMS, "data_path": str(tmp_path / "missing.tar.gz")}
    dag_run = dag.test(run_conf=conf, logical_date=pendulum.datetime(2026, 1, 7, tz="UTC"))
    assert dag_run.state == "failed"
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = (
            session.query(TaskInstance)
            .filter_by(dag_id="imdb_sentiment", run_id=dag_run.run_id, task_id="ingest")
            .one()
        )
        assert ti.state == "failed" and ti.try_number == 1


def airflow_tasks_test(task_id: str, date: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "airflow", "tasks", "test", "imdb_sentiment", task_id, date],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_each_task_runs_alone_under_airflow_tasks_test(airflow_db, tiny_aclimdb_tarball, artifact_root):
    """`airflow tasks test` keeps no XCom: each task finds its inputs in the run folder of the date."""
    env = {**os.environ, "IMDB_ARTIFACT_ROOT": str(artifact_root)}
    params = json.dumps({**TINY_PARAMS, "data_path": str(tiny_aclimdb_tarball)})
    date = "2024-03-01"
    run_path = artifact_root / "imdb_sentiment" / "tasks_test__2024-03-01T00:00:00+00:00"

    early = airflow_tasks_test("train", date, env)  # nothing ingested yet: a clear message, no output
    assert "has no finished output" in early.stdout + early.stderr
    assert "airflow tasks test imdb_sentiment ingest" in early.stdout + early.stderr
    assert not (run_path / "train").exists()

    for task_id in STAGES:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", "tasks", "test", "imdb_sentiment", task_id, date, "-t", params],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert (run_path / task_id / "manifest.json").is_file(), (
            f"{task_id}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    assert artifacts.read_json(run_path / "report" / "metrics.json")["test_accuracy"] > 0.8
