"""Evaluate: score the saved model on the test reviews it has never seen.

Writes ``evaluation.json`` (loss, accuracy, ROC AUC, confusion matrix, ROC curve points) and
``predictions.npz`` (each test review's probability and label) for the report.
"""

from __future__ import annotations

import logging

import numpy as np

from imdb_model.spec import DECISION_THRESHOLD
from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.core.parameters import PipelineConfig
from imdb_pipeline.features.multi_hot import MultiHot, check_multi_hot, load_multi_hot
from imdb_pipeline.store import artifacts

log = logging.getLogger(__name__)


def mean_loss(model, labels: np.ndarray, probabilities: np.ndarray) -> float:
    """The model's own compiled loss over all reviews (what ``model.evaluate`` reports)."""
    import keras

    loss_fn = keras.losses.get(model.loss)
    return float(keras.ops.mean(loss_fn(labels.astype(np.float32)[:, None], probabilities[:, None])))


def summarize(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """Threshold metrics and ranking metrics of probabilities against 0/1 labels."""
    # Imported here, not with the module: the runner loads every stage, and scikit-learn's metrics
    # would cost each stage process memory and time (docs/performance.md) that only this one needs.
    from sklearn import metrics as skm

    predicted = (probabilities >= DECISION_THRESHOLD).astype(np.uint8)
    matrix = skm.confusion_matrix(labels, predicted, labels=[0, 1])
    fpr, tpr, _ = skm.roc_curve(labels, probabilities)
    step = max(1, len(fpr) // 200)  # enough points to draw the curve
    return {
        "accuracy": float(skm.accuracy_score(labels, predicted)),
        "roc_auc": float(skm.roc_auc_score(labels, probabilities)),
        "precision": float(skm.precision_score(labels, predicted, zero_division=0)),
        "recall": float(skm.recall_score(labels, predicted, zero_division=0)),
        "f1": float(skm.f1_score(labels, predicted, zero_division=0)),
        "confusion_matrix": {
            "labels": ["negative", "positive"],
            "rows_true_columns_predicted": matrix.tolist(),
        },
        "roc_curve": {"fpr": fpr[::step].round(5).tolist(), "tpr": tpr[::step].round(5).tolist()},
        "threshold": DECISION_THRESHOLD,
    }


def check_test_set(test: MultiHot) -> None:
    """Consistent test rows with both classes in them (accuracy on one class, and no ROC AUC, would
    pass for a result)."""
    check_multi_hot(test, "the vectorized test split")
    counts = [int((test.labels == label).sum()) for label in (0, 1)]
    if min(counts) == 0:
        raise PipelineInputError(
            f"the test split has {counts[0]} negative and {counts[1]} positive reviews: evaluation needs "
            "reviews of both classes. Check the data's test split."
        )


def check_width(model, test: MultiHot) -> None:
    width = int(model.input_shape[-1])
    if width != test.num_words:
        raise PipelineInputError(
            f"the model takes rows of {width} columns but the test rows have {test.num_words}: the model "
            "and the test rows come from different vectorize runs. Run train again, then evaluate."
        )


def evaluate(inputs: dict[str, str], config: PipelineConfig, out: artifacts.StageOutput) -> dict[str, str]:
    test = load_multi_hot(inputs["test_multi_hot"])
    check_test_set(test)
    from imdb_model import load_model  # safe mode: no code from the file; TensorFlow only now

    model = load_model(inputs["model"])
    check_width(model, test)
    from imdb_model.training import predict_probabilities

    probabilities = predict_probabilities(model, test.indices, test.indptr, test.num_words)
    report = {"test_loss": mean_loss(model, test.labels, probabilities), "test_reviews": len(test)}
    report.update(summarize(test.labels, probabilities))
    report["test_accuracy"] = report["accuracy"]
    log.info(
        "test: loss %.4f, accuracy %.4f, ROC AUC %.4f on %d reviews",
        report["test_loss"],
        report["test_accuracy"],
        report["roc_auc"],
        len(test),
    )
    artifacts.write_json(out.path("evaluation", "evaluation.json"), report)
    artifacts.save_arrays(
        out.path("predictions", "predictions.npz"),
        probabilities=probabilities.astype(np.float32),
        labels=test.labels,
    )
    return out.final_paths()
