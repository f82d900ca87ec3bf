"""Evaluate: test metrics that agree with each other and with the saved predictions."""

import numpy as np
import pytest

from imdb_pipeline import artifacts, evaluate

pytestmark = pytest.mark.slow


def test_summarize_on_known_predictions():
    labels = np.array([0, 0, 1, 1])
    summary = evaluate.summarize(labels, np.array([0.1, 0.6, 0.4, 0.9]))
    assert summary["accuracy"] == 0.5
    assert summary["confusion_matrix"]["rows_true_columns_predicted"] == [[1, 1], [1, 1]]
    assert summary["roc_auc"] == 0.75


def test_evaluation_matches_the_predictions(tiny_run):
    outputs = tiny_run["outputs"]["evaluate"]
    report = artifacts.read_json(outputs["evaluation"])
    predictions = artifacts.load_arrays(outputs["predictions"])
    assert len(predictions["probabilities"]) == report["test_reviews"] == 120
    recomputed = ((predictions["probabilities"] >= 0.5) == predictions["labels"]).mean()
    assert report["test_accuracy"] == pytest.approx(recomputed, abs=1e-6)
    assert np.array(report["confusion_matrix"]["rows_true_columns_predicted"]).sum() == 120
    assert report["test_accuracy"] > 0.8 and report["roc_auc"] > 0.85


def test_models_with_code_are_refused_by_safe_loading(tmp_path):
    import keras

    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(ValueError, match="(?i)lambda|unsafe|safe_mode"):
        evaluate.load_model(str(path))
