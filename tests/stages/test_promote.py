"""The promote stage: a blessed model becomes the champion, anything else is recorded with its reason."""

import json
import os
import subprocess
import sys

import pytest
from stage_runs import tiny_params

from imdb_pipeline.stages import runner
from imdb_pipeline.store import artifacts, model_store

pytestmark = pytest.mark.slow


def gated_run(tiny_run, artifact_root, name, **params):
    """A run folder whose gate judged the tiny run's model against the current champion."""
    run_path = artifact_root / "imdb_sentiment" / name
    params = {**tiny_run["params"], "min_accuracy": 0.5, **params}
    evaluated = tiny_run["outputs"]["evaluate"]
    ingested = tiny_run["outputs"]["ingest"]
    gated = runner.run_stage("gate", params, run_path, {"ingest": ingested, "evaluate": evaluated})
    return run_path, params, {"train": tiny_run["outputs"]["train"], "evaluate": evaluated, "gate": gated}


def scored_run(tiny_run, artifact_root, name, accuracy, same_data=False, **params):
    """A run folder with a model of its own (bytes only: never loaded) and the given test accuracy, gated;
    trained on new reviews (token files of its own) unless ``same_data`` (the tiny run's)."""
    run_path = artifact_root / "imdb_sentiment" / name
    ingested = tiny_run["outputs"]["ingest"]
    if not same_data:
        with artifacts.stage_writer(run_path, "ingest") as out:
            for split in ("train", "test"):
                out.path(f"{split}_tokens", f"{split}.npz").write_bytes(f"{split} reviews of {name}".encode())
            ingested = out.final_paths()
    with artifacts.stage_writer(run_path, "train") as out:
        out.path("model", "model.keras").write_bytes(f"the model of {name}".encode())
        out.path("word_index", "word_index.json").write_text(json.dumps({"good": 1}))
        trained = out.final_paths()
    with artifacts.stage_writer(run_path, "evaluate") as out:
        scores = {"test_accuracy": accuracy, "test_loss": 0.5, "roc_auc": accuracy}
        artifacts.write_json(out.path("evaluation", "evaluation.json"), scores)
        evaluated = out.final_paths()
    params = {**tiny_run["params"], **params}
    gated = runner.run_stage("gate", params, run_path, {"ingest": ingested, "evaluate": evaluated})
    return run_path, params, {"train": trained, "evaluate": evaluated, "gate": gated}


def promotion(outputs):
    return artifacts.read_json(outputs["promotion"])


def was_promoted(outputs):
    record = promotion(outputs)
    return record["promoted"], record["reason"]


def test_promotions_switch_the_link_and_keep_the_previous_champion(tiny_run, artifact_root):
    run_a, params, upstream = gated_run(tiny_run, artifact_root, "run-a")
    outputs = runner.run_stage("promote", params, run_a, upstream)
    first = model_store.current()
    promoted, reason = was_promoted(outputs)
    accuracy = artifacts.read_json(upstream["evaluate"]["evaluation"])["test_accuracy"]
    assert promoted is True
    assert reason == f"blessed: test accuracy {accuracy:.5f} >= min_accuracy 0.50000; no champion yet"
    assert first["run"] == "run-a" and first["previous"] is None
    assert {"model.keras", "word_index.json", "evaluation.json", "champion.json"} <= set(
        os.listdir(model_store.champion_dir())
    )
    artifacts.verify_outputs({"model": str(model_store.champion_dir().resolve() / "model.keras")})

    run_b, params, upstream = scored_run(tiny_run, artifact_root, "run-b", 1.0)
    promoted, reason = was_promoted(runner.run_stage("promote", params, run_b, upstream))
    assert promoted is True and reason.startswith("blessed: test accuracy 1.00000 >= min_accuracy")
    assert (
        "new data (not the champion's): test accuracy 1.00000 is at or above the champion's "
        f"{first['test_accuracy']:.5f} (champion {first['version']})"
    ) in reason
    second = model_store.current()
    assert second["run"] == "run-b" and second["previous"] == first["version"]
    assert model_store.versions() == [first["version"], second["version"]]


def test_promoting_the_champions_own_model_again_changes_nothing(tiny_run, artifact_root):
    run_a, params, upstream = gated_run(tiny_run, artifact_root, "run-a")
    runner.run_stage("promote", params, run_a, upstream)
    first = model_store.current()
    outputs = runner.run_stage("promote", params, run_a, upstream)  # a retried promote task
    assert model_store.current() == first and len(model_store.versions()) == 1
    assert promotion(outputs)["reason"] == "already the champion (the same model)"
    # Another model trained into the same run folder (a rerun with other params) is a new champion.
    _, params, upstream = scored_run(tiny_run, artifact_root, "run-a", 1.0)
    runner.run_stage("promote", params, run_a, upstream)
    assert model_store.current()["version"] != first["version"]
    assert model_store.current()["previous"] == first["version"]


def test_a_model_the_gate_did_not_bless_is_recorded_as_not_promoted(tiny_run, artifact_root):
    run_path, params, upstream = scored_run(tiny_run, artifact_root, "run-x", 0.55)
    outputs = runner.run_stage("promote", params, run_path, upstream)
    promoted, reason = was_promoted(outputs)
    assert promoted is False and reason.startswith("the gate did not bless the model: not blessed")
    assert "0.55000 < min_accuracy" in reason
    assert model_store.current() is None and model_store.versions() == []


def test_the_gate_is_rechecked_when_the_champion_changed_meanwhile(tiny_run, artifact_root, tmp_path):
    run_path, params, upstream = scored_run(tiny_run, artifact_root, "run-late", 0.9, max_regression=0.0)
    # Another run became champion after this run's gate, with a better accuracy.
    better = tmp_path / "evaluation.json"
    better.write_text("{}")
    info = {"dag_id": "imdb_sentiment", "run": "other", "test_accuracy": 0.95}
    model_store.switch_to(model_store.install({"evaluation": str(better)}, info))
    outputs = runner.run_stage("promote", params, run_path, upstream)
    assert promotion(outputs)["promoted"] is False
    assert "changed since the gate" in promotion(outputs)["reason"]
    assert model_store.current()["run"] == "other"


def test_a_promotion_that_dies_while_copying_changes_nothing(tiny_run, artifact_root, monkeypatch):
    run_a, params, upstream = gated_run(tiny_run, artifact_root, "run-a")
    runner.run_stage("promote", params, run_a, upstream)
    before = (model_store.current(), model_store.versions())
    run_b, params, upstream = scored_run(tiny_run, artifact_root, "run-b", 1.0)
    real_copy = model_store.shutil.copyfile

    def dying_copy(source, target):
        if str(source).endswith("word_index.json"):
            raise OSError("disk full")
        return real_copy(source, target)

    monkeypatch.setattr(model_store.shutil, "copyfile", dying_copy)
    with pytest.raises(OSError, match="disk full"):
        runner.run_stage("promote", params, run_b, upstream)
    assert (model_store.current(), model_store.versions()) == before
    # No half-copied version folder is left (not even for the next promotion's lock to remove)...
    assert not list((artifact_root / model_store.VERSIONS).glob(".*.partial-*"))
    # ...and the failed task left no promotion record either, finished or partial.
    assert not (run_b / "promote").exists() and not list(run_b.glob(".promote.partial-*"))
    monkeypatch.setattr(model_store.shutil, "copyfile", real_copy)
    runner.run_stage("promote", params, run_b, upstream)
    assert model_store.current()["run"] == "run-b"
    assert not list((artifact_root / model_store.VERSIONS).glob(".*.partial-*"))


# Each process promotes its run with the store's lock and install instrumented. It appends a line to
# a shared event log (an O_APPEND write: one order for both processes) when it asks for the lock,
# holds it, and is about to let it go; and its install waits until the other process has asked for
# the lock. So whichever process installs first, the other is promoting at the same time: with the
# lock it waits for it; without the lock both would be inside a promotion at once.
PROMOTE_WHILE_THE_OTHER_ASKS = """
import contextlib, os, sys, time
from imdb_pipeline.store import model_store
from imdb_pipeline.stages import runner

name, other, log = sys.argv[1:4]


def event(what):
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.write(fd, f"{name} {what}\\n".encode())
    os.close(fd)


lock, install = model_store.promotion_lock, model_store.install


@contextlib.contextmanager
def logged_lock(*args, **kwargs):
    event("asks")
    with lock(*args, **kwargs):
        event("holds")
        try:
            yield
        finally:
            event("lets go")


def install_once_the_other_asks(*args, **kwargs):
    deadline = time.monotonic() + 120
    while f"{other} asks" not in open(log).read().splitlines():
        assert time.monotonic() < deadline, f"{other} never asked for the promotion lock"
        time.sleep(0.01)
    return install(*args, **kwargs)


model_store.promotion_lock, model_store.install = logged_lock, install_once_the_other_asks
sys.exit(runner.main(sys.argv[4:]))
"""


def test_two_processes_promoting_at_once_leave_one_consistent_history(tiny_run, artifact_root, tmp_path):
    names = ("a", "b")
    runs = [scored_run(tiny_run, artifact_root, name, 0.9) for name in names]
    log = tmp_path / "events.log"
    log.touch()
    env = {**os.environ, "IMDB_ARTIFACT_ROOT": str(artifact_root)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PROMOTE_WHILE_THE_OTHER_ASKS, name, other, str(log)]
            + ["--run-dir", str(run_path), "--stage", "promote"]
            + [f"--param={key}={json.dumps(value)}" for key, value in params.items()],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for (run_path, params, _), name, other in zip(runs, names, names[::-1], strict=True)
    ]
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read()[-2000:]
    events = log.read_text().splitlines()
    # The promotions overlapped: both had asked for the lock before the first one let it go...
    first_let_go = next(i for i, event in enumerate(events) if event.endswith(" lets go"))
    assert sorted(event for event in events[:first_let_go] if event.endswith(" asks")) == ["a asks", "b asks"]
    # ...and the lock kept them apart: one held it and let it go, then the other.
    held = [event for event in events if not event.endswith(" asks")]
    one_then_the_other = [
        [f"{one} holds", f"{one} lets go", f"{two} holds", f"{two} lets go"]
        for one, two in (names, names[::-1])
    ]
    assert held in one_then_the_other, events
    first, second = model_store.versions()  # both recorded, in promotion order
    current = model_store.current()
    assert current["version"] == second and current["previous"] == first  # the second saw the first
    assert model_store.champion_dir().resolve() == artifact_root / model_store.VERSIONS / second
    artifacts.verify_outputs({"model": str(model_store.champion_dir().resolve() / "model.keras")})
    promoted = sorted(
        promotion({"promotion": str(run / "promote" / "promotion.json")})["version"] for run, *_ in runs
    )
    assert promoted == [first, second]


def test_predict_scores_with_the_champion_by_default(tiny_run, artifact_root):
    env = {**os.environ, "IMDB_ARTIFACT_ROOT": str(artifact_root)}
    command = [sys.executable, "-m", "imdb_pipeline.serving.predict"]
    refused = subprocess.run(command, input="great\n", capture_output=True, text=True, env=env, timeout=120)
    assert refused.returncode == 2 and "no champion model yet" in refused.stderr

    run_a, params, upstream = gated_run(tiny_run, artifact_root, "run-a")
    runner.run_stage("promote", params, run_a, upstream)
    reviews = "superb and moving\nawful and dull\n"
    scored = subprocess.run(command, input=reviews, capture_output=True, text=True, env=env, timeout=120)
    assert scored.returncode == 0, scored.stderr
    assert [json.loads(line)["label"] for line in scored.stdout.splitlines()] == ["positive", "negative"]


def test_the_command_line_pipeline_promotes_only_when_asked(tiny_aclimdb_tarball, artifact_root, tmp_path):
    params = tiny_params(tiny_aclimdb_tarball, min_accuracy=0.5)
    outputs = runner.run_pipeline(params, tmp_path / "debug-run")
    assert "promote" not in outputs and model_store.current() is None
    assert artifacts.read_json(outputs["gate"]["decision"])["blessed"] is True
    outputs = runner.run_pipeline(params, tmp_path / "debug-run", promote=True)
    assert was_promoted(outputs["promote"])[0] and model_store.current()["run"] == "debug-run"


def test_a_rerun_on_the_same_data_that_is_not_better_leaves_the_champion(tiny_run, artifact_root):
    run_a, params, upstream = gated_run(tiny_run, artifact_root, "run-a")
    runner.run_stage("promote", params, run_a, upstream)
    first = model_store.current()
    run_b, params, upstream = scored_run(tiny_run, artifact_root, "run-b", first["test_accuracy"], True)
    outputs = runner.run_stage("promote", params, run_b, upstream)
    promoted, reason = was_promoted(outputs)
    assert not promoted and "same data as the champion" in reason and "is not better than" in reason
    assert model_store.current()["version"] == first["version"]
    assert first["data_fingerprint"] == artifacts.read_json(upstream["gate"]["decision"])["data_fingerprint"]


def test_a_model_trained_on_new_data_may_replace_a_slightly_better_champion(tiny_run, artifact_root):
    run_a, params, upstream = gated_run(tiny_run, artifact_root, "run-a")
    runner.run_stage("promote", params, run_a, upstream)
    run_b, params, upstream = scored_run(
        tiny_run, artifact_root, "run-b", model_store.current()["test_accuracy"] - 0.005
    )
    promoted, reason = was_promoted(runner.run_stage("promote", params, run_b, upstream))
    assert promoted and "new data (not the champion's)" in reason and "within max_regression" in reason
    assert model_store.current()["run"] == "run-b"
