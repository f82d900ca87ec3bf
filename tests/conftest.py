"""Shared fixtures: tiny generated IMDB-like datasets in both source formats, and an isolated Airflow.

Airflow reads its configuration when first imported, so the environment is set here, before any
test module imports it: a throw-away AIRFLOW_HOME (SQLite), this project's dags/ and plugins/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sample_data import tar_directory, write_aclimdb, write_keras_npz
from stage_runs import PROJECT, REAL_DATA, TINY_PARAMS

_home = Path(tempfile.mkdtemp(prefix="imdb-tests-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_home)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_home}/airflow.db"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(PROJECT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# One Fernet key for this process and every Airflow command the tests start on the same database:
# a trigger's kwargs (the inbox watcher's) written encrypted by one must be readable by the others.
os.environ["AIRFLOW__CORE__FERNET_KEY"] = Fernet.generate_key().decode()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.pop("IMDB_DATA_PATH", None)  # tests say where their data is
os.environ["IMDB_ARTIFACT_ROOT"] = str(Path(os.environ["AIRFLOW_HOME"]) / "artifacts")


@pytest.fixture(scope="session")
def tiny_aclimdb_dir(tmp_path_factory) -> Path:
    return write_aclimdb(tmp_path_factory.mktemp("aclimdb"))


@pytest.fixture(scope="session")
def tiny_aclimdb_tarball(tiny_aclimdb_dir, tmp_path_factory) -> Path:
    return tar_directory(tiny_aclimdb_dir, tmp_path_factory.mktemp("tarball") / "aclImdb_tiny.tar.gz")


@pytest.fixture(scope="session")
def tiny_keras_npz_file(tmp_path_factory) -> Path:
    return write_keras_npz(tmp_path_factory.mktemp("keras"))


@pytest.fixture
def tiny_keras_npz(tiny_keras_npz_file, monkeypatch) -> Path:
    """The tiny pickled npz, registered as trusted the way Keras' published checksum is."""
    from imdb_pipeline.stages import ingest
    from imdb_pipeline.store import artifacts

    monkeypatch.setattr(
        ingest,
        "TRUSTED_PICKLED_NPZ_SHA256",
        ingest.TRUSTED_PICKLED_NPZ_SHA256 | {artifacts.sha256_file(tiny_keras_npz_file)},
    )
    return tiny_keras_npz_file


@pytest.fixture
def artifact_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "artifacts"
    monkeypatch.setenv("IMDB_ARTIFACT_ROOT", str(root))
    return root


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated metadata database in the test AIRFLOW_HOME (needed by dag.test())."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not REAL_DATA.is_file():
        pytest.skip(
            f"real data not found at {REAL_DATA}: set IMDB_REAL_DATA to aclImdb_v1_labeled.tar.gz "
            "(or aclImdb_v1.tar.gz)"
        )
    return REAL_DATA


@pytest.fixture(scope="session")
def tiny_run(tiny_aclimdb_tarball, tmp_path_factory) -> dict:
    """One finished pipeline run on the tiny tarball, shared by the tests that read its outputs."""
    from imdb_pipeline.stages.runner import run_pipeline

    run_path = tmp_path_factory.mktemp("tiny-run")
    params = {**TINY_PARAMS, "data_path": str(tiny_aclimdb_tarball)}
    return {"path": run_path, "params": params, "outputs": run_pipeline(params, run_path)}


@pytest.fixture(scope="session")
def s3_server():
    """One real S3 API server for the session (moto's, in its own process, with atomic conditional
    writes as on AWS S3): started once (~0.3 s), since each test gets its own bucket."""
    from s3_server import S3Server

    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3_root(s3_server, tmp_path, monkeypatch):
    """A fresh bucket on the session's S3 server as the artifact root, ``s3://<bucket>/artifacts``.

    Clients find the server through the AWS_* variables alone, as the workers will; s3fs forgets its
    cached instances before and after, since they were made for another environment.
    """
    import uuid

    import s3fs

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    bucket = f"imdb-test-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    root = f"s3://{bucket}/artifacts"
    monkeypatch.setenv("IMDB_ARTIFACT_ROOT", root)
    monkeypatch.setenv("IMDB_LOCAL_CACHE", str(tmp_path / "local-cache"))  # the worker-local cache
    s3fs.S3FileSystem.clear_instance_cache()
    yield root
    s3fs.S3FileSystem.clear_instance_cache()
