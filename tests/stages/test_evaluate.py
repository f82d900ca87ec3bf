"""Evaluate: test metrics that agree with each other and with the saved predictions."""

import numpy as np
import pytest

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.features.multi_hot import MultiHot
from imdb_pipeline.stages import evaluate
from imdb_pipeline.store import artifacts


def test_an_empty_or_one_class_test_split_is_refused():
    empty = MultiHot(np.zeros(0, np.uint16), np.zeros(1, np.int64), np.zeros(0, np.uint8), 10)
    with pytest.raises(PipelineInputError, match="0 negative and 0 positive reviews"):
        evaluate.check_test_set(empty)
    positive_only = MultiHot(np.array([1, 2]), np.array([0, 1, 2]), np.array([1, 1], np.uint8), 10)
    with pytest.raises(PipelineInputError, match="0 negative and 2 positive reviews"):
        evaluate.check_test_set(positive_only)


def test_test_labels_of_the_wrong_length_are_refused():
    short = MultiHot(np.array([1, 2]), np.array([0, 1, 2]), np.array([0, 1, 1], np.uint8), 10)
    with pytest.raises(PipelineInputError, match="2 rows but 3 labels"):
        evaluate.check_test_set(short)


def test_a_model_of_another_width_is_refused():
    class Model:
        input_shape = (None, 20)

    test = MultiHot(np.array([1, 2]), np.array([0, 1, 2]), np.array([0, 1], np.uint8), 10)
    with pytest.raises(PipelineInputError, match="takes rows of 20 columns but the test rows have 10"):
        evaluate.check_width(Model(), test)


@pytest.mark.slow
def test_summarize_on_known_predictions():
    labels = np.array([0, 0, 1, 1])
    summary = evaluate.summarize(labels, np.array([0.1, 0.6, 0.4, 0.9]))
    assert summary["accuracy"] == 0.5
    assert summary["confusion_matrix"]["rows_true_columns_predicted"] == [[1, 1], [1, 1]]
    assert summary["roc_auc"] == 0.75


@pytest.mark.slow
def test_evaluation_matches_the_predictions(tiny_run):
    outputs = tiny_run["outputs"]["evaluate"]
    report = artifacts.read_json(outputs["evaluation"])
    predictions = artifacts.load_arrays(outputs["predictions"])
    assert len(predictions["probabilities"]) == report["test_reviews"] == 120
    recomputed = ((predictions["probabilities"] >= 0.5) == predictions["labels"]).mean()
    assert report["test_accuracy"] == pytest.approx(recomputed, abs=1e-6)
    assert np.array(report["confusion_matrix"]["rows_true_columns_predicted"]).sum() == 120
    assert report["test_accuracy"] > 0.8 and report["roc_auc"] > 0.85


@pytest.mark.slow
def test_models_with_code_are_refused_by_safe_loading(tmp_path):
    import keras

    from imdb_model import load_model

    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(ValueError, match=r"(?i)lambda|unsafe|safe_mode"):
        load_model(str(path))
