"""The model store: versions installed atomically, the link switched in one rename, pruning, rollback."""

import json
import os
import shutil

import pytest

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.store import model_store


@pytest.fixture
def evaluation_file(tmp_path):
    path = tmp_path / "evaluation.json"
    path.write_text("{}")
    return str(path)


def install(evaluation_file, run, **info):
    return model_store.install({"evaluation": evaluation_file}, {"dag_id": "d", "run": run, **info})


def test_there_is_no_champion_until_one_is_switched_to(artifact_root, evaluation_file):
    assert model_store.current() is None and model_store.versions() == []
    version = install(evaluation_file, "r1", test_accuracy=0.88)
    assert model_store.current() is None and model_store.versions() == [version]
    model_store.switch_to(version)
    folder = str(artifact_root / model_store.VERSIONS / version)
    assert model_store.current() == {
        "dag_id": "d",
        "run": "r1",
        "test_accuracy": 0.88,
        "version": version,
        "folder": folder,
    }
    link = model_store.champion_dir()
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))  # the root may be mounted elsewhere


def test_only_finished_versions_can_be_switched_to(artifact_root, evaluation_file):
    install(evaluation_file, "r1")
    with pytest.raises(PipelineInputError, match="not a finished folder"):
        model_store.switch_to("no-such-version")


def test_old_versions_are_pruned_but_not_the_champion_or_its_predecessor(artifact_root, evaluation_file):
    made = []
    for number in range(model_store.KEEP_VERSIONS + 3):
        made.append(install(evaluation_file, f"r{number}", previous=made[-1] if made else None))
    model_store.switch_to(made[1])  # an old one is the champion (after rollbacks, say)
    model_store.prune()
    kept = model_store.versions()
    assert made[1] in kept and made[0] in kept  # the champion and its previous one
    assert kept[-model_store.KEEP_VERSIONS :] == made[-model_store.KEEP_VERSIONS :]
    assert len(kept) == model_store.KEEP_VERSIONS + 2


def test_a_broken_link_gets_a_clear_message(artifact_root):
    artifact_root.mkdir(parents=True)
    (artifact_root / "champion").symlink_to("champions/gone")
    with pytest.raises(PipelineInputError, match="rollback"):
        model_store.current()


def test_taking_the_lock_removes_what_a_killed_install_left(artifact_root, evaluation_file):
    version = install(evaluation_file, "r1")
    leftover = artifact_root / model_store.VERSIONS / ".20260101T000000__d__r2.partial-x1y2"
    leftover.mkdir()
    (leftover / "model.keras").write_bytes(b"half a model")  # as a SIGKILL mid-copy leaves it
    assert model_store.versions() == [version]  # never listed as a version
    with model_store.promotion_lock():
        assert not leftover.exists()


def test_command_line_shows_and_rolls_back(artifact_root, evaluation_file, capsys):
    assert model_store.main(["--rollback"]) == 2 and "no previous champion" in capsys.readouterr().err
    first = install(evaluation_file, "r1", test_accuracy=0.88, previous=None)
    second = install(evaluation_file, "r2", test_accuracy=0.89, previous=first)
    model_store.switch_to(second)
    assert model_store.main([]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["champion"]["run"] == "r2" and shown["versions"] == [first, second]
    assert model_store.main(["--rollback"]) == 0
    assert f"champion is now {first}" in capsys.readouterr().out and model_store.current()["run"] == "r1"


def test_an_edited_or_truncated_champion_is_refused_naming_the_way_out(artifact_root, evaluation_file):
    version = install(evaluation_file, "r1", test_accuracy=0.88)
    model_store.switch_to(version)
    info = model_store.champion_dir().resolve() / "champion.json"
    info.write_text(info.read_text()[:20])
    with pytest.raises(PipelineInputError, match=r"missing or damaged .*--rollback"):
        model_store.current()


def test_rollback_from_a_vanished_champion_goes_to_the_newest_intact_version(artifact_root, evaluation_file):
    first = install(evaluation_file, "r1", previous=None)
    second = install(evaluation_file, "r2", previous=first)
    third = install(evaluation_file, "r3", previous=second)
    model_store.switch_to(third)
    shutil.rmtree(artifact_root / model_store.VERSIONS / third)  # the folder is gone (a bad cleanup, say)
    (artifact_root / model_store.VERSIONS / second / "evaluation.json").write_text("edited")
    with pytest.raises(PipelineInputError, match=r"missing or not a folder; .*--rollback"):
        model_store.current()
    assert model_store.rollback() == first and model_store.current()["run"] == "r1"
