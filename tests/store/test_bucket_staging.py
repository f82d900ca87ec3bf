"""bucket_staging, with artifacts: on a bucket a stage is invisible until its manifest, a rerun
replaces it whole, a create-once folder refuses a second writer, and readers trust only what a
manifest vouches for."""

import json
from pathlib import Path

import pytest

from imdb_pipeline.core.errors import MissingUpstreamError
from imdb_pipeline.store import artifacts, bucket_staging


def write_stage(run, text: str, fail: bool = False) -> dict[str, str]:
    with artifacts.stage_writer(run, "stage") as out:
        out.path("data", "data.txt").write_text(text)
        if fail:
            raise RuntimeError("killed mid-stage")
    return out.final_paths()


def bucket_keys(root) -> list[str]:
    return sorted(root.store.fs.find(root.key))


def test_outputs_are_urls_under_an_attempt_and_read_back_verified(s3_root):
    run = artifacts.run_dir("dag", "run-1")
    outputs = write_stage(run, "hello")
    assert outputs["data"].startswith(f"{s3_root}/dag/run-1/stage/attempts/")
    local = artifacts.read_stage(run, "stage")
    assert Path(local["data"]).read_text() == "hello"
    assert artifacts.localize(outputs) == local  # the XCom value and the folder give the same files


def test_a_failed_stage_leaves_nothing_a_reader_would_trust(s3_root):
    run = artifacts.run_dir("dag", "run-1")
    with pytest.raises(RuntimeError):
        write_stage(run, "half", fail=True)
    with pytest.raises(MissingUpstreamError, match="has no finished output"):
        artifacts.read_stage(run, "stage")


def test_files_without_their_manifest_are_invisible(s3_root):
    """A writer killed after its uploads and before its manifest: the files are there, unread."""
    run = artifacts.run_dir("dag", "run-1")
    store = run.store
    store.put(run / "stage" / "attempts" / "killed" / "data.txt", b"orphan")
    with pytest.raises(MissingUpstreamError):
        artifacts.read_stage(run, "stage")
    with pytest.raises(MissingUpstreamError, match="not the finished output"):
        artifacts.localize({"data": str(run / "stage" / "attempts" / "killed" / "data.txt")})


def test_a_rerun_replaces_the_stage_and_removes_only_the_attempt_it_replaced(s3_root):
    run = artifacts.run_dir("dag", "run-1")
    first = write_stage(run, "one")
    second = write_stage(run, "two")
    assert Path(artifacts.read_stage(run, "stage")["data"]).read_text() == "two"
    keys = bucket_keys(run)
    assert first["data"].removeprefix("s3://") not in keys
    assert second["data"].removeprefix("s3://") in keys
    with pytest.raises(MissingUpstreamError, match="rerun since"):
        artifacts.localize(first)  # an XCom value from before the rerun is refused, not misread


def test_a_file_changed_in_the_bucket_is_refused(s3_root):
    run = artifacts.run_dir("dag", "run-1")
    outputs = write_stage(run, "hello")
    run.store.put(artifacts.location(outputs["data"]), b"tampered")
    artifacts_cache_cleared = artifacts.local_cache.cache_root()
    for mirror in (artifacts_cache_cleared / "stages").iterdir():
        artifacts.local_cache.forget(mirror)  # another worker, which never saw the original
    with pytest.raises(MissingUpstreamError, match="do not match their manifest"):
        artifacts.read_stage(run, "stage")


def test_a_create_once_folder_refuses_the_second_writer_and_keeps_the_first(s3_root):
    version = artifacts.artifact_root() / "scored" / "v1"
    with artifacts.stage_writer(version, "batch", replace=False) as out:
        out.path("scores", "scores.jsonl").write_text("first\n")
    with (
        pytest.raises(bucket_staging.AlreadyCommitted),
        artifacts.stage_writer(version, "batch", replace=False) as out,
    ):
        out.path("scores", "scores.jsonl").write_text("second\n")
    assert Path(artifacts.read_stage(version, "batch")["scores"]).read_text() == "first\n"
    attempts = version.store.children(version / "batch" / "attempts")
    assert len(attempts) == 1  # the loser's upload is removed


def test_the_manifest_records_the_attempt_folder_and_checksums(s3_root):
    run = artifacts.run_dir("dag", "run-1")
    outputs = write_stage(run, "hello")
    manifest = json.loads(run.store.read(run / "stage" / "manifest.json"))
    assert manifest["folder"] == "attempts/" + outputs["data"].split("/attempts/")[1].split("/")[0]
    assert manifest["files"]["data.txt"]["bytes"] == 5
