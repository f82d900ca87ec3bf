"""object_store: bucket URLs, the conditional writes everything atomic on a bucket is built from, and
one-line errors for a bucket that cannot be used."""

import os
import subprocess
import sys

import pytest

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.store import artifacts, object_store
from imdb_pipeline.store.object_store import ObjectPath, PreconditionFailed


def test_urls_name_buckets_and_plain_paths_stay_local(monkeypatch, tmp_path):
    assert object_store.parse("s3://bucket/a//b/") == ObjectPath("s3", "bucket/a/b")
    assert str(object_store.parse("s3://bucket/a") / "c" / "d.json") == "s3://bucket/a/c/d.json"
    assert not object_store.is_url("/tmp/x") and not object_store.is_url("file:///tmp/x")
    monkeypatch.setenv("IMDB_ARTIFACT_ROOT", f"file://{tmp_path}")
    assert artifacts.artifact_root() == tmp_path.resolve()
    for bad in ("s3://", "s3://bucket/../x"):
        with pytest.raises(PipelineInputError):
            object_store.parse(bad)
    with pytest.raises(PipelineInputError):
        object_store.parse("s3://bucket/a") / ".."


def test_create_once_and_replace_if_unchanged(s3_root):
    root = artifacts.artifact_root()
    store, key = root.store, root / "pointer.json"
    store.create(key, b"first")
    with pytest.raises(PreconditionFailed):
        store.create(key, b"second")
    data, etag = store.read_versioned(key)
    assert data == b"first"
    store.replace(key, b"third", etag)
    with pytest.raises(PreconditionFailed):
        store.replace(key, b"fourth", etag)  # stale: the object changed since etag was read
    assert store.read(key) == b"third"
    with pytest.raises(PreconditionFailed):
        store.delete_if(key, etag)
    store.delete_if(key, store.etag(key))
    assert store.read(key) is None


def test_a_missing_bucket_is_one_line_naming_it(s3_root, monkeypatch):
    monkeypatch.setenv("IMDB_ARTIFACT_ROOT", "s3://no-such-bucket-here/artifacts")
    with pytest.raises(
        PipelineInputError, match=r"bucket 'no-such-bucket-here' .* does not exist: create it"
    ):
        artifacts.checked_root()


def test_a_scheme_without_its_package_names_the_package(monkeypatch):
    monkeypatch.setenv("IMDB_ARTIFACT_ROOT", "gs://bucket/artifacts")
    with pytest.raises(
        PipelineInputError, match=r"gs:// needs gcsfs, which is not installed.*pip install gcsfs"
    ):
        artifacts.checked_root()


def test_refused_credentials_say_where_to_look():
    from botocore.exceptions import ClientError

    refused = ClientError(
        {"Error": {"Code": "InvalidAccessKeyId", "Message": "no such key"}}, "ListObjectsV2"
    )
    error = object_store.storage_error(refused, object_store.parse("s3://b/p"))
    assert isinstance(error, PipelineInputError)
    assert "IMDB_ARTIFACT_CONN_ID" in str(error) and "AWS_ACCESS_KEY_ID" in str(error)


def test_the_command_line_fails_fast_with_one_line_for_an_unreachable_endpoint(tmp_path):
    """No bucket anywhere near: the runner says so in one line (retries are the SDK's; kept short here)."""
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "imdb_pipeline.stages.runner", "--run-dir", "s3://bucket/runs/one"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 3
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: cannot reach the object store for s3://bucket/runs/one")
    )
    assert "Traceback" not in result.stderr
    assert "AWS_ENDPOINT_URL" in result.stderr
    assert not (tmp_path / "s3:").exists()
