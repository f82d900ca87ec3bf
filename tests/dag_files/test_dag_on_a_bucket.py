"""`airflow dags test imdb_sentiment` with the artifact root in a bucket, reached only through the
Airflow connection named by IMDB_ARTIFACT_CONN_ID: every artifact lands in the bucket, XCom carries
its URLs, nothing is written under a local artifact folder."""

import json
import os
import subprocess
import sys

import pytest
from stage_runs import TINY_PARAMS

from imdb_pipeline.store import artifacts, model_store

pytestmark = pytest.mark.slow
STAGES = ["ingest", "vectorize", "train", "evaluate", "gate", "report", "promote"]


def connection_only_env(s3_server, root: str, tmp_path) -> dict[str, str]:
    """The task environment of a worker that knows the bucket only through an Airflow connection."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    connection = {
        "conn_type": "aws",
        "login": s3_server.env["AWS_ACCESS_KEY_ID"],
        "password": s3_server.env["AWS_SECRET_ACCESS_KEY"],
        "extra": {"endpoint_url": s3_server.endpoint, "region_name": "us-east-1"},
    }
    return {
        **env,
        "IMDB_ARTIFACT_ROOT": root,
        "IMDB_ARTIFACT_CONN_ID": "imdb_artifacts",
        "AIRFLOW_CONN_IMDB_ARTIFACTS": json.dumps(connection),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "IMDB_LOCAL_CACHE": str(tmp_path / "worker-cache"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def test_a_dag_run_writes_every_artifact_to_the_bucket(
    airflow_db, s3_server, s3_root, tiny_aclimdb_tarball, tmp_path
):
    conf = {**TINY_PARAMS, "data_path": str(tiny_aclimdb_tarball), "min_accuracy": 0.6}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow",
            "dags",
            "test",
            "imdb_sentiment",
            "2026-04-01",
            "--conf",
            json.dumps(conf),
        ],
        capture_output=True,
        text=True,
        env=connection_only_env(s3_server, s3_root, tmp_path),
        cwd=tmp_path,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    root = artifacts.artifact_root()
    [run_folder] = root.store.children(root / "imdb_sentiment")
    run = root / "imdb_sentiment" / run_folder
    assert {stage for stage in STAGES if root.store.exists(run / stage / "manifest.json")} == set(STAGES)
    metrics = artifacts.read_json(artifacts.read_stage(run, "report", only=("metrics",))["metrics"])
    assert metrics["test_accuracy"] > 0.8
    assert model_store.current()["run"] == run_folder
    assert not (tmp_path / "s3:").exists() and not (tmp_path / "artifacts").exists()
    local_home = os.path.join(os.environ["AIRFLOW_HOME"], "artifacts", "imdb_sentiment")
    assert not any(
        name.startswith("manual__2026-04-01")
        for name in (os.listdir(local_home) if os.path.isdir(local_home) else [])
    )
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(
            XComModel.get_many(run_id=run_folder, key="return_value", dag_ids="imdb_sentiment")
        ).all()
        values = {row.task_id: XComModel.deserialize_value(row) for row in rows}
    assert set(values) == set(STAGES)
    for outputs in values.values():
        assert all(path.startswith(f"{s3_root}/imdb_sentiment/") for path in outputs.values()), outputs
