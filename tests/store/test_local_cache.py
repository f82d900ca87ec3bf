"""local_cache: the worker's mirror of what it read from a bucket, reused, bounded."""

import os
import time
from pathlib import Path

from imdb_pipeline.store import artifacts, local_cache


def test_a_stage_read_twice_is_fetched_once(s3_root, monkeypatch):
    run = artifacts.run_dir("dag", "run-1")
    with artifacts.stage_writer(run, "stage") as out:
        out.path("data", "data.txt").write_text("x" * 1000)
    for mirror in (local_cache.cache_root() / "stages").iterdir():
        local_cache.forget(mirror)  # as on a worker that did not write it
    downloads = []
    real = type(run.store).download
    monkeypatch.setattr(type(run.store), "download", lambda self, *a: downloads.append(a) or real(self, *a))
    first = artifacts.read_stage(run, "stage")
    second = artifacts.read_stage(run, "stage")
    assert first == second and len(downloads) == 1


def test_the_writer_keeps_its_own_output_as_the_mirror(s3_root, monkeypatch):
    run = artifacts.run_dir("dag", "run-1")
    with artifacts.stage_writer(run, "stage") as out:
        out.path("data", "data.txt").write_text("mine")
    monkeypatch.setattr(
        type(run.store), "download", lambda *a: (_ for _ in ()).throw(AssertionError("downloaded"))
    )
    assert Path(artifacts.read_stage(run, "stage")["data"]).read_text() == "mine"


def test_trim_removes_least_recently_used_mirrors_past_the_grace_period(tmp_path, monkeypatch):
    monkeypatch.setenv("IMDB_LOCAL_CACHE", str(tmp_path))
    stages = tmp_path / "stages"
    old, recent = stages / "old", stages / "recent"
    for folder in (old, recent):
        folder.mkdir(parents=True)
        (folder / "blob").write_bytes(b"x" * 1000)
    long_ago = time.time() - local_cache.GRACE_SECONDS - 60
    os.utime(old, (long_ago, long_ago))
    os.utime(recent, (long_ago + 1, long_ago + 1))
    local_cache.trim(limit=1500)
    assert not old.exists() and recent.exists()
    os.utime(recent, None)  # just used: kept even over the limit
    local_cache.trim(limit=10)
    assert recent.exists()


def test_a_killed_writers_folder_is_removed_a_day_later(tmp_path, monkeypatch):
    monkeypatch.setenv("IMDB_LOCAL_CACHE", str(tmp_path))
    work = local_cache.work_dir()
    (work / "killed").mkdir()
    (work / "writing").mkdir()
    long_ago = time.time() - local_cache.ABANDONED_SECONDS - 60
    os.utime(work / "killed", (long_ago, long_ago))
    local_cache.work_dir()
    assert sorted(p.name for p in work.iterdir()) == ["writing"]
