"""Train: the book's protocol on a tiny dataset (validation run, epoch choice, final fit, .keras)."""

import re

import pytest

from imdb_pipeline import artifacts, train
from imdb_pipeline.errors import MissingUpstreamError
from imdb_pipeline.pipeline import run_stage

pytestmark = pytest.mark.slow


def test_best_epoch_is_the_lowest_validation_loss():
    assert train.best_epoch([0.5, 0.3, 0.29, 0.31]) == 3
    assert train.best_epoch([0.2, 0.2, 0.3]) == 1


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


def test_model_and_word_index_are_saved_together(tiny_run):
    outputs = tiny_run["outputs"]["train"]
    assert outputs["model"].endswith("model.keras")
    assert artifacts.read_json(outputs["word_index"]) == artifacts.read_json(
        tiny_run["outputs"]["ingest"]["word_index"]
    )


def test_fixed_final_epochs_and_epoch_log_lines(tiny_run, tmp_path, caplog):
    import shutil

    for stage in ("ingest", "vectorize"):
        shutil.copytree(tiny_run["path"] / stage, tmp_path / stage)
    with caplog.at_level("INFO", logger="imdb_pipeline.train"):
        outputs = run_stage("train", {**tiny_run["params"], "final_epochs": 2, "epochs": 3}, tmp_path)
    assert artifacts.read_json(outputs["history"])["final_epochs"] == 2
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.name == "imdb_pipeline.train" and re.search(r"epoch \d+/\d+:", r.getMessage())
    ]
    assert [line.split(":")[0] for line in lines] == [
        "validation run epoch 1/3",
        "validation run epoch 2/3",
        "validation run epoch 3/3",
        "final fit epoch 1/2",
        "final fit epoch 2/2",
    ]


def test_training_without_vectorized_data_says_what_to_run_first(tmp_path):
    with pytest.raises(MissingUpstreamError, match="airflow tasks test imdb_sentiment ingest"):
        run_stage("train", {}, tmp_path)
