"""Train: the book's protocol on a tiny dataset (validation run, epoch choice, final fit, .keras)."""

import re
import shutil

import numpy as np
import pytest

from imdb_pipeline.core.errors import MissingUpstreamError, PipelineInputError
from imdb_pipeline.features.multi_hot import MultiHot, load_multi_hot
from imdb_pipeline.stages import train
from imdb_pipeline.stages.runner import run_stage
from imdb_pipeline.store import artifacts


def rows(labels, per_row=2, num_words=10) -> MultiHot:
    indptr = np.arange(len(labels) + 1) * per_row
    return MultiHot(
        np.arange(len(labels) * per_row) % num_words, indptr, np.array(labels, np.uint8), num_words
    )


@pytest.mark.parametrize(
    ("validation_size", "left", "counts"),
    [(6, 0, "0 negative and 0 positive"), (9, 0, "0 negative and 0 positive"), (5, 1, "0 negative and 1")],
)
def test_validation_must_leave_reviews_of_both_classes_to_train_on(validation_size, left, counts):
    with pytest.raises(
        PipelineInputError,
        match=rf"validation_size={validation_size} of the 6 .* leaves {left} to train on, with {counts}",
    ):
        train.check_split(rows([0, 1, 0, 1, 0, 1]), validation_size)
    train.check_split(rows([0, 1, 0, 1, 0, 1]), 4)


def test_best_epoch_is_the_lowest_validation_loss():
    assert train.best_epoch([0.5, 0.3, 0.29, 0.31]) == 3
    assert train.best_epoch([0.2, 0.2, 0.3]) == 1


@pytest.mark.slow
def test_validation_run_then_final_fit(tiny_run):
    history = artifacts.read_json(tiny_run["outputs"]["train"]["history"])
    epochs = tiny_run["params"]["epochs"]
    assert set(history["validation_history"]) == {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"}
    assert all(len(values) == epochs for values in history["validation_history"].values())
    assert history["best_epoch"] == train.best_epoch(history["validation_history"]["val_loss"])
    assert history["final_epochs"] == history["best_epoch"]
    assert len(history["final_history"]["loss"]) == history["final_epochs"]
    assert (history["train_reviews"], history["validation_reviews"]) == (80, 40)
    assert history["parameters"] == 40 * 16 + 16 + 16 * 16 + 16 + 17
    assert history["validation_history"]["val_accuracy"][-1] > 0.8  # the tiny data is learnable


@pytest.mark.slow
def test_model_and_word_index_are_saved_together(tiny_run):
    outputs = tiny_run["outputs"]["train"]
    assert outputs["model"].endswith("model.keras")
    assert artifacts.read_json(outputs["word_index"]) == artifacts.read_json(
        tiny_run["outputs"]["ingest"]["word_index"]
    )


@pytest.mark.slow
def test_each_fit_weights_its_input_from_its_own_training_rows(tiny_run, tmp_path, monkeypatch):
    """NB weights never see the validation rows: the validation run fits them on the rows after
    ``validation_size``, the final fit on all; the saved model holds the final fit's."""
    from imdb_model import load_model
    from imdb_pipeline.features import weighting

    for stage in ("ingest", "vectorize"):
        shutil.copytree(tiny_run["path"] / stage, tmp_path / stage)
    fitted = []
    column_weights = weighting.column_weights
    monkeypatch.setattr(
        weighting,
        "column_weights",
        lambda data, rows, kind: fitted.append(rows.indices(len(data))) or column_weights(data, rows, kind),
    )
    params = {**tiny_run["params"], "weighting": "nb", "hidden_layers": 0, "epochs": 2}
    outputs = run_stage("train", params, tmp_path)
    data = load_multi_hot(tmp_path / "vectorize" / "train.npz")
    assert fitted == [(params["validation_size"], len(data), 1), (0, len(data), 1)]
    saved = load_model(outputs["model"]).layers[1].column_weights.numpy()
    np.testing.assert_array_equal(saved, column_weights(data, slice(None), "nb"))


@pytest.mark.slow
def test_fixed_final_epochs_and_epoch_log_lines(tiny_run, tmp_path, caplog):
    for stage in ("ingest", "vectorize"):
        shutil.copytree(tiny_run["path"] / stage, tmp_path / stage)
    with caplog.at_level("INFO", logger="imdb_pipeline.stages.train"):
        outputs = run_stage("train", {**tiny_run["params"], "final_epochs": 2, "epochs": 3}, tmp_path)
    assert artifacts.read_json(outputs["history"])["final_epochs"] == 2
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "imdb_pipeline.stages.train" and re.search(r"epoch \d+/\d+:", r.getMessage())
    ]
    assert [line.split(":")[0] for line in lines] == [
        "validation run epoch 1/3",
        "validation run epoch 2/3",
        "validation run epoch 3/3",
        "final fit epoch 1/2",
        "final fit epoch 2/2",
    ]


@pytest.mark.slow
def test_training_without_vectorized_data_says_what_to_run_first(tmp_path):
    with pytest.raises(MissingUpstreamError, match=r"'ingest' stage has no finished output.* --stage ingest"):
        run_stage("train", {}, tmp_path)
    with pytest.raises(MissingUpstreamError, match="airflow tasks test imdb_sentiment ingest"):
        run_stage("train", {}, tmp_path, dag_id="imdb_sentiment")


def _prepared(tiny_run, tmp_path):
    for stage in ("ingest", "vectorize"):
        shutil.copytree(tiny_run["path"] / stage, tmp_path / stage)
    return tmp_path


@pytest.mark.slow
def test_validation_size_past_the_data_is_refused_before_training(tiny_run, tmp_path):
    run = _prepared(tiny_run, tmp_path)
    with pytest.raises(PipelineInputError, match=r"validation_size=120 of the 120 .* leaves 0 to train on"):
        run_stage("train", {**tiny_run["params"], "validation_size": 120}, run)
    assert not (run / "train").exists()


def test_train_checks_memory_again_with_the_datas_own_sizes(monkeypatch):
    """The trigger assumes IMDB's ~150 ones per row; rows with many more are refused at train."""
    from imdb_model import ModelSpec
    from imdb_pipeline.core.parameters import PipelineConfig

    monkeypatch.setenv("IMDB_WORKER_MEMORY_MB", "2000")
    config = PipelineConfig.from_params({"batch_size": 65536})
    spec = ModelSpec.from_mapping(config.to_dict())
    dense_rows = MultiHot(
        np.broadcast_to(np.uint16(3), (25_000 * 1_000,)),
        np.arange(25_001, dtype=np.int64) * 1_000,
        np.zeros(25_000, np.uint8),
        10000,
    )
    with pytest.raises(PipelineInputError, match=r"needs about [\d,]+ MB .* worker limit of 2,000 MB"):
        train.check_memory(spec, config, dense_rows)
    train.check_memory(spec, config, rows([0, 1] * 100))


@pytest.mark.slow
def test_a_model_above_the_worker_memory_limit_is_refused_before_training(tiny_run, tmp_path, monkeypatch):
    run = _prepared(tiny_run, tmp_path)
    monkeypatch.setenv("IMDB_WORKER_MEMORY_MB", "300")
    with pytest.raises(PipelineInputError, match=r"needs about [\d,]+ MB .* worker limit of 300 MB"):
        run_stage("train", tiny_run["params"], run)
    assert not (run / "train").exists()


# The peak RSS of a command, measured by a small parent of its own: a child started straight from
# pytest reports pytest's own peak too (Linux keeps the forking process's high-water mark through exec).
MEASURE = (
    "import os, subprocess, sys; child = subprocess.Popen(sys.argv[1:]); "
    "_, status, usage = os.wait4(child.pid, 0); "
    "print(f'peak-rss-kb {usage.ru_maxrss}', file=sys.stderr); sys.exit(os.waitstatus_to_exitcode(status))"
)


def _train_in_a_process(run, data, params: dict) -> tuple[int, str, float]:
    """(exit code, stderr, peak RSS MB) of the train stage run as a worker runs it."""
    import json
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "imdb_pipeline.stages.runner", "--run-dir", str(run), "--stage", "train"]
    command += [f"--param=data_path={data}", *[f"--param={k}={json.dumps(v)}" for k, v in params.items()]]
    env = {k: v for k, v in os.environ.items() if k != "IMDB_WORKER_MEMORY_MB"}
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], env=env, capture_output=True, text=True
    )
    peak_kb = int(result.stderr.rsplit("peak-rss-kb ", 1)[1].split()[0])
    return result.returncode, result.stderr, peak_kb / 1024


@pytest.mark.slow
@pytest.mark.real_data
def test_real_data_wide_models_are_refused_and_the_books_trains_within_the_goal(real_data, tmp_path):
    """Issue 17: units 1024 and the form's maximum are refused before training with the limit in
    the message (default limit: the per-task goal), never killed; the book's model fits it."""
    from imdb_pipeline.core.parameters import PARAM_SPECS

    for stage in ("ingest", "vectorize"):
        run_stage(stage, {"data_path": str(real_data)}, tmp_path)
    for units in (1024, PARAM_SPECS["units"]["maximum"]):
        code, stderr, peak = _train_in_a_process(tmp_path, real_data, {"units": units, "epochs": 1})
        assert code != 0 and "above the worker limit of 1,000 MB" in stderr, stderr[-2000:]
        assert "IMDB_WORKER_MEMORY_MB" in stderr and not (tmp_path / "train").exists()
        assert peak < 1000
    code, stderr, peak = _train_in_a_process(tmp_path, real_data, {"epochs": 2, "final_epochs": 1})
    assert code == 0, stderr[-2000:]
    assert peak < 1000
