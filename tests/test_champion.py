"""The champion: promoted atomically, the previous one kept for rollback, re-checked under a lock."""

import json
import os
import subprocess
import sys

import pytest

from imdb_pipeline import artifacts, champion, pipeline
from imdb_pipeline.errors import PipelineInputError

pytestmark = pytest.mark.slow


def gated_run(tiny_run, artifact_root, name, **params):
    """A run folder whose gate judged the tiny run's model against the current champion."""
    run_path = artifact_root / "imdb_sentiment" / name
    params = {**tiny_run["params"], "min_accuracy": 0.5, **params}
    evaluated = tiny_run["outputs"]["evaluate"]
    gated = pipeline.run_stage("gate", params, run_path, [evaluated])
    return run_path, params, [tiny_run["outputs"]["train"], evaluated, gated]


def scored_run(tiny_run, artifact_root, name, accuracy, **params):
    """A run folder with a model of its own (bytes only: never loaded) and the given test accuracy, gated."""
    run_path = artifact_root / "imdb_sentiment" / name
    with artifacts.stage_writer(run_path, "train") as out:
        out.path("model", "model.keras").write_bytes(f"the model of {name}".encode())
        out.path("word_index", "word_index.json").write_text(json.dumps({"good": 1}))
        trained = out.final_paths()
    with artifacts.stage_writer(run_path, "evaluate") as out:
        scores = {"test_accuracy": accuracy, "test_loss": 0.5, "roc_auc": accuracy}
        artifacts.write_json(out.path("evaluation", "evaluation.json"), scores)
        evaluated = out.final_paths()
    params = {**tiny_run["params"], **params}
    return run_path, params, [trained, evaluated, pipeline.run_stage("gate", params, run_path, [evaluated])]


def test_promotions_switch_the_link_and_keep_the_previous_champion(tiny_run, artifact_root):
    assert champion.current() is None
    run_a, params, upstream = gated_run(tiny_run, artifact_root, "run-a")
    pipeline.run_stage("promote", params, run_a, upstream)
    first = champion.current()
    assert first["run"] == "run-a" and first["previous"] is None
    assert champion.champion_dir().is_symlink() and not os.path.isabs(os.readlink(champion.champion_dir()))
    assert {"model.keras", "word_index.json", "evaluation.json", "champion.json"} <= set(
        os.listdir(champion.champion_dir())
    )
    artifacts.verify_outputs({"model": str(champion.champion_dir().resolve() / "model.keras")})

    run_b, params, upstream = scored_run(tiny_run, artifact_root, "run-b", 1.0)
    pipeline.run_stage("promote", params, run_b, upstream)
    second = champion.current()
    assert second["run"] == "run-b" and second["previous"] == first["version"]
    assert champion.versions() == [first["version"], second["version"]]

    assert champion.rollback() == first["version"]
    assert champion.current()["version"] == first["version"]


def test_promoting_the_champions_own_model_again_changes_nothing(tiny_run, artifact_root):
    run_a, params, upstream = gated_run(tiny_run, artifact_root, "run-a")
    pipeline.run_stage("promote", params, run_a, upstream)
    first = champion.current()
    outputs = pipeline.run_stage("promote", params, run_a, upstream)  # a retried promote task
    assert champion.current() == first and len(champion.versions()) == 1
    assert artifacts.read_json(outputs["promotion"])["reason"] == "already the champion (the same model)"
    # Another model trained into the same run folder (a rerun with other params) is a new champion.
    _, params, upstream = scored_run(tiny_run, artifact_root, "run-a", 1.0)
    pipeline.run_stage("promote", params, run_a, upstream)
    assert (
        champion.current()["version"] != first["version"]
        and champion.current()["previous"] == first["version"]
    )


def test_a_model_that_is_not_blessed_cannot_be_promoted(tiny_run, artifact_root):
    run_path, params, upstream = scored_run(tiny_run, artifact_root, "run-x", 0.55)
    with pytest.raises(PipelineInputError, match="not blessed"):
        pipeline.run_stage("promote", params, run_path, upstream)
    assert champion.current() is None and not (run_path / "promote").exists()


def test_the_gate_is_rechecked_when_the_champion_changed_meanwhile(tiny_run, artifact_root, tmp_path):
    run_path, params, upstream = scored_run(tiny_run, artifact_root, "run-late", 0.9, max_regression=0.0)
    # Another run became champion after this run's gate, with a better accuracy.
    better = tmp_path / "evaluation.json"
    better.write_text("{}")
    version = champion.install(
        {"evaluation": str(better)}, {"dag_id": "imdb_sentiment", "run": "other", "test_accuracy": 0.95}
    )
    champion.switch_to(version)
    outputs = pipeline.run_stage("promote", params, run_path, upstream)
    promotion = artifacts.read_json(outputs["promotion"])
    assert promotion["promoted"] is False and "changed since the gate" in promotion["reason"]
    assert champion.current()["run"] == "other"


def test_old_versions_are_pruned_but_not_the_champion_or_its_predecessor(artifact_root, tmp_path):
    source = tmp_path / "evaluation.json"
    source.write_text("{}")
    made = []
    for number in range(champion.KEEP_VERSIONS + 3):
        previous = made[-1] if made else None
        made.append(
            champion.install(
                {"evaluation": str(source)}, {"dag_id": "d", "run": f"r{number}", "previous": previous}
            )
        )
    champion.switch_to(made[1])  # an old one is the champion (after rollbacks, say)
    champion.prune()
    kept = champion.versions()
    assert made[1] in kept and made[0] in kept  # the champion and its previous one
    assert kept[-champion.KEEP_VERSIONS :] == made[-champion.KEEP_VERSIONS :]
    assert len(kept) == champion.KEEP_VERSIONS + 2


def test_a_broken_link_gets_a_clear_message(artifact_root):
    artifact_root.mkdir(parents=True)
    (artifact_root / "champion").symlink_to("champions/gone")
    with pytest.raises(PipelineInputError, match="rollback"):
        champion.current()


def test_predict_scores_with_the_champion_by_default(tiny_run, artifact_root):
    env = {**os.environ, "IMDB_ARTIFACT_ROOT": str(artifact_root)}
    command = [sys.executable, "-m", "imdb_pipeline.predict"]
    refused = subprocess.run(command, input="great\n", capture_output=True, text=True, env=env, timeout=120)
    assert refused.returncode == 2 and "no champion model yet" in refused.stderr

    run_a, params, upstream = gated_run(tiny_run, artifact_root, "run-a")
    pipeline.run_stage("promote", params, run_a, upstream)
    scored = subprocess.run(
        command,
        input="superb and moving\nawful and dull\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert scored.returncode == 0, scored.stderr
    assert [json.loads(line)["label"] for line in scored.stdout.splitlines()] == ["positive", "negative"]


def test_command_line_shows_and_rolls_back(artifact_root, tmp_path, capsys):
    source = tmp_path / "evaluation.json"
    source.write_text("{}")
    assert champion.main(["--rollback"]) == 2 and "no previous champion" in capsys.readouterr().err
    first = champion.install(
        {"evaluation": str(source)}, {"dag_id": "d", "run": "r1", "test_accuracy": 0.88, "previous": None}
    )
    second = champion.install(
        {"evaluation": str(source)}, {"dag_id": "d", "run": "r2", "test_accuracy": 0.89, "previous": first}
    )
    champion.switch_to(second)
    assert champion.main([]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["champion"]["run"] == "r2" and shown["versions"] == [first, second]
    assert champion.main(["--rollback"]) == 0
    assert f"champion is now {first}" in capsys.readouterr().out and champion.current()["run"] == "r1"


def test_a_promotion_that_dies_while_copying_changes_nothing(tiny_run, artifact_root, monkeypatch):
    run_a, params, upstream = gated_run(tiny_run, artifact_root, "run-a")
    pipeline.run_stage("promote", params, run_a, upstream)
    before = (champion.current(), champion.versions())
    run_b, params, upstream = scored_run(tiny_run, artifact_root, "run-b", 1.0)
    real_copy = champion.shutil.copyfile

    def dying_copy(source, target):
        if str(source).endswith("word_index.json"):
            raise OSError("disk full")
        return real_copy(source, target)

    monkeypatch.setattr(champion.shutil, "copyfile", dying_copy)
    with pytest.raises(OSError, match="disk full"):
        pipeline.run_stage("promote", params, run_b, upstream)
    assert (champion.current(), champion.versions()) == before
    monkeypatch.setattr(champion.shutil, "copyfile", real_copy)
    pipeline.run_stage("promote", params, run_b, upstream)
    assert champion.current()["run"] == "run-b"
    assert not list((artifact_root / champion.VERSIONS).glob(".*.partial-*"))


def test_the_command_line_pipeline_promotes_only_when_asked(tiny_aclimdb_tarball, artifact_root, tmp_path):
    params = {**tiny_run_params(tiny_aclimdb_tarball), "min_accuracy": 0.5}
    outputs = pipeline.run_pipeline(params, tmp_path / "debug-run")
    assert "promote" not in outputs and champion.current() is None
    assert artifacts.read_json(outputs["gate"]["decision"])["blessed"] is True
    outputs = pipeline.run_pipeline(params, tmp_path / "debug-run", promote=True)
    assert champion.current()["run"] == "debug-run"


def tiny_run_params(data_path):
    from conftest import TINY_PARAMS

    return {**TINY_PARAMS, "data_path": str(data_path)}
