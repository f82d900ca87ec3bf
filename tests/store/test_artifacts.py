"""Artifacts: run folders inside the root, atomic stage folders, checksummed manifests."""

import datetime as dt
import os
import subprocess
import sys

import numpy as np
import pytest

from imdb_pipeline.core.errors import MissingUpstreamError, PipelineInputError
from imdb_pipeline.store import artifacts, staging


def test_root_comes_from_the_environment_or_airflow_home(monkeypatch, tmp_path):
    monkeypatch.setenv("IMDB_ARTIFACT_ROOT", str(tmp_path / "root"))
    assert artifacts.artifact_root() == tmp_path / "root"
    monkeypatch.delenv("IMDB_ARTIFACT_ROOT")
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    assert artifacts.artifact_root() == tmp_path / "home" / "artifacts"


def test_run_dir_is_one_folder_per_run(tmp_path):
    path = artifacts.run_dir("imdb_sentiment", "manual__2026-01-01T00:00:00+00:00", root=tmp_path)
    assert path == tmp_path / "imdb_sentiment" / "manual__2026-01-01T00:00:00+00:00"


def test_temporary_runs_of_tasks_test_share_a_folder_per_logical_date(tmp_path):
    date = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    first = artifacts.run_dir("d", "__airflow_temporary_run_2026-11-29T10:00:00__", date, root=tmp_path)
    second = artifacts.run_dir("d", "__airflow_temporary_run_2026-11-29T10:05:00__", date, root=tmp_path)
    assert first == second and first.name == "tasks_test__2024-03-01T00:00:00+00:00"


@pytest.mark.parametrize("run_id", ["../../etc", "..", "a/../../b", "/abs/path", "."])
def test_crafted_run_ids_cannot_leave_the_root(tmp_path, run_id):
    try:
        path = artifacts.run_dir("imdb_sentiment", run_id, root=tmp_path)
    except PipelineInputError:
        return
    assert path.is_relative_to(tmp_path / "imdb_sentiment") and path != tmp_path / "imdb_sentiment"


def test_stage_writer_swaps_a_complete_folder_in(tmp_path):
    with artifacts.stage_writer(tmp_path, "stage") as out:
        artifacts.save_arrays(out.path("numbers", "numbers.npz"), x=np.arange(3))
        assert not (tmp_path / "stage").exists()  # invisible until finished
    outputs = artifacts.read_stage(tmp_path, "stage")
    assert artifacts.load_arrays(outputs["numbers"])["x"].tolist() == [0, 1, 2]
    assert artifacts.read_manifest(tmp_path / "stage")["files"]["numbers.npz"]["bytes"] > 0


def test_a_failing_stage_keeps_the_previous_output_and_leaves_no_temporary_folder(tmp_path):
    with artifacts.stage_writer(tmp_path, "stage") as out:
        artifacts.write_json(out.path("value", "value.json"), 1)
    with pytest.raises(RuntimeError), artifacts.stage_writer(tmp_path, "stage") as out:
        artifacts.write_json(out.path("value", "value.json"), 2)
        raise RuntimeError("killed halfway")
    assert artifacts.read_json(artifacts.read_stage(tmp_path, "stage")["value"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stage"]


def test_a_rerun_replaces_the_whole_folder(tmp_path):
    with artifacts.stage_writer(tmp_path, "stage") as out:
        artifacts.write_json(out.path("old", "old.json"), 1)
    with artifacts.stage_writer(tmp_path, "stage") as out:
        artifacts.write_json(out.path("new", "new.json"), 2)
    assert sorted(p.name for p in (tmp_path / "stage").iterdir()) == ["manifest.json", "new.json"]


def test_a_changed_file_fails_verification(tmp_path):
    with artifacts.stage_writer(tmp_path, "stage") as out:
        artifacts.write_json(out.path("value", "value.json"), 1)
    (tmp_path / "stage" / "value.json").write_text("2")
    with pytest.raises(MissingUpstreamError, match="does not match its stage manifest"):
        artifacts.read_stage(tmp_path, "stage")


def test_missing_stage_says_which_task_to_run_first(tmp_path):
    with pytest.raises(MissingUpstreamError, match="airflow tasks test imdb_sentiment ingest"):
        artifacts.read_stage(tmp_path, "ingest", "imdb_sentiment")


def test_object_arrays_are_never_saved(tmp_path):
    with pytest.raises(TypeError, match="object array"):
        artifacts.save_arrays(tmp_path / "x.npz", x=np.array([[1], [1, 2]], dtype=object))


def test_folder_names_are_one_to_one_with_run_ids(tmp_path):
    ids = [
        "run~1",
        "run_1",
        "run%7E1",
        ".hidden",
        "%2Ehidden",
        "_hidden",
        "a/b",
        "a_b",
        "a b",
        "x" * 250,
        "x" * 251,
    ]
    names = [artifacts.run_folder_name(run_id) for run_id in ids]
    assert len(set(names)) == len(ids)
    assert all(len(name) <= 200 and not name.startswith(".") and "/" not in name for name in names)
    assert (
        artifacts.run_folder_name("scheduled__2026-01-01T00:00:00+00:00")
        == "scheduled__2026-01-01T00:00:00+00:00"
    )


def test_a_second_writer_leaves_a_live_partial_folder_alone(tmp_path):
    with artifacts.stage_writer(tmp_path, "stage") as first:
        artifacts.write_json(first.path("value", "value.json"), 1)
        with artifacts.stage_writer(tmp_path, "stage") as second:  # another worker, same stage
            artifacts.write_json(second.path("value", "value.json"), 2)
        assert first.dir.is_dir() and (first.dir / "value.json").is_file()
    assert artifacts.read_json(artifacts.read_stage(tmp_path, "stage")["value"]) == 1  # the last to finish


def test_a_killed_writers_partial_folder_is_removed_by_the_next_writer(tmp_path):
    script = (
        "import os, sys; from pathlib import Path; from imdb_pipeline.store import artifacts\n"
        "with artifacts.stage_writer(Path(sys.argv[1]), 'stage') as out:\n"
        "    out.path('v', 'v.json').write_text('1'); os.kill(os.getpid(), 9)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=False)
    (left,) = tmp_path.glob(".stage.partial-*")
    with artifacts.stage_writer(tmp_path, "stage") as out:
        artifacts.write_json(out.path("v", "v.json"), 2)
        assert not left.exists()
    assert [path.name for path in tmp_path.iterdir()] == ["stage"]


def test_a_kill_between_the_two_renames_loses_nothing(tmp_path, monkeypatch):
    with artifacts.stage_writer(tmp_path, "stage") as out:
        artifacts.write_json(out.path("value", "value.json"), 1)
    monkeypatch.setattr(staging, "_exchange", lambda first, second: False)  # a system without renameat2
    real_replace = os.replace

    def dies_after_moving_the_old_folder_away(source, target):
        real_replace(source, target)
        if ".old-" in str(target):
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(staging.os, "replace", dies_after_moving_the_old_folder_away)
    with pytest.raises(KeyboardInterrupt), artifacts.stage_writer(tmp_path, "stage") as out:
        artifacts.write_json(out.path("value", "value.json"), 2)
    assert not (tmp_path / "stage").exists()  # the moment of the kill
    assert artifacts.read_json(artifacts.read_stage(tmp_path, "stage")["value"]) == 1  # repaired on read
    assert [path.name for path in tmp_path.iterdir()] == ["stage"]


def test_the_swap_is_one_exchange_on_linux(tmp_path, monkeypatch):
    with artifacts.stage_writer(tmp_path, "stage") as out:
        artifacts.write_json(out.path("value", "value.json"), 1)
    exchanges = []
    real_exchange = staging._exchange
    monkeypatch.setattr(staging, "_exchange", lambda *paths: exchanges.append(real_exchange(*paths)) or True)
    with artifacts.stage_writer(tmp_path, "stage") as out:
        artifacts.write_json(out.path("value", "value.json"), 2)
    assert exchanges == [True]  # renameat2(RENAME_EXCHANGE) did it: there was no moment without the folder
    assert artifacts.read_json(artifacts.read_stage(tmp_path, "stage")["value"]) == 2


@pytest.mark.parametrize("damage", [b'{"stage": "stage", "outp', b"\xff\xfe", b"[]", b'{"outputs": {}}'])
def test_a_damaged_manifest_is_a_clear_error(tmp_path, damage):
    with artifacts.stage_writer(tmp_path, "stage") as out:
        artifacts.write_json(out.path("value", "value.json"), 1)
    (tmp_path / "stage" / "manifest.json").write_bytes(damage)
    with pytest.raises(
        MissingUpstreamError, match=r"manifest\.json is damaged .*: rerun the stage that writes stage"
    ):
        artifacts.read_stage(tmp_path, "stage")
    with pytest.raises(MissingUpstreamError, match="is damaged"):
        artifacts.verify_outputs({"value": str(tmp_path / "stage" / "value.json")})
