"""Report: what a person wants to see after a run.

``metrics.json`` (test metrics, the chosen epochs, both training histories, the gate's decision,
the config, per-stage wall time and peak memory), the book's two figures (training/validation loss
and accuracy), a confusion matrix and ROC curve, and ``report.html`` tying them together with
example reviews.
All text in the page goes through Jinja2's autoescaping: reviews contain markup.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from imdb_model.spec import DECISION_THRESHOLD
from imdb_pipeline.core.parameters import PipelineConfig
from imdb_pipeline.features import tokenized, tokenizer
from imdb_pipeline.stages import graph, report_text
from imdb_pipeline.store import artifacts

log = logging.getLogger(__name__)

# The stages that have run when the report is written: all before it in the pipeline's order.
STAGES = graph.STAGES[: graph.STAGES.index("report") + 1]
EXAMPLE_WORDS = 90
IMAGES = {
    "loss": "loss.png",
    "accuracy": "accuracy.png",
    "confusion": "confusion_matrix.png",
    "roc": "roc.png",
}


def figure(columns: int = 1, size: tuple[float, float] = (6.4, 4.2)):
    """(pyplot, figure, axes) drawn off-screen (Agg: workers have no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, columns, figsize=size, dpi=110)
    return plt, fig, axes


def save_figure(plt, fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def plot_curve(history: dict, metric: str, best_epoch: int, path: Path) -> None:
    """The book's figure: training as dots, validation as a line, the chosen epoch marked."""
    plt, fig, ax = figure()
    epochs = range(1, len(history[metric]) + 1)
    ax.plot(epochs, history[metric], "bo", label=f"Training {metric}")
    ax.plot(epochs, history[f"val_{metric}"], "b", label=f"Validation {metric}")
    ax.axvline(
        best_epoch, color="tab:orange", linestyle="--", label=f"Lowest validation loss (epoch {best_epoch})"
    )
    ax.set_title(f"Training and validation {metric}")
    ax.set_xlabel("Epochs")
    ax.set_ylabel(metric.capitalize())
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(plt, fig, path)


def plot_confusion_matrix(
    labels: np.ndarray, probabilities: np.ndarray, threshold: float, path: Path
) -> None:
    from sklearn.metrics import ConfusionMatrixDisplay

    plt, fig, ax = figure()
    ConfusionMatrixDisplay.from_predictions(
        labels,
        (probabilities >= threshold).astype(np.uint8),
        display_labels=["negative", "positive"],
        cmap="Blues",
        ax=ax,
        colorbar=False,
        values_format="d",
    )
    ax.set_title("Test set confusion matrix")
    save_figure(plt, fig, path)


def plot_roc(labels: np.ndarray, probabilities: np.ndarray, path: Path) -> None:
    from sklearn.metrics import RocCurveDisplay

    plt, fig, ax = figure()
    RocCurveDisplay.from_predictions(labels, probabilities, ax=ax, name="model")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set_title("Test set ROC curve")
    ax.grid(alpha=0.3)
    save_figure(plt, fig, path)


def stage_timings(run_path: artifacts.Location) -> dict[str, dict]:
    """Wall time and peak memory of each finished stage, from its manifest."""
    timings = {}
    for stage in STAGES:
        try:
            manifest = artifacts.read_json(run_path / stage / artifacts.MANIFEST)
        except FileNotFoundError:
            continue
        if isinstance(manifest, dict):
            timings[stage] = {
                key: manifest[key] for key in ("wall_seconds", "peak_rss_mb") if key in manifest
            }
    return timings


def pick_examples(labels: np.ndarray, probabilities: np.ndarray) -> list[tuple[str, int]]:
    """(caption, index) of telling test reviews: the surest hits, the worst misses, a coin flip."""
    predicted = probabilities >= DECISION_THRESHOLD
    wanted = [
        ("Most confidently positive, and right", (labels == 1) & predicted, -probabilities),
        ("Most confidently negative, and right", (labels == 0) & ~predicted, probabilities),
        ("Confidently positive, but negative (false positive)", (labels == 0) & predicted, -probabilities),
        ("Confidently negative, but positive (false negative)", (labels == 1) & ~predicted, probabilities),
        ("The model's hardest call", np.ones_like(predicted), np.abs(probabilities - DECISION_THRESHOLD)),
    ]
    examples = []
    for caption, mask, score in wanted:
        candidates = np.flatnonzero(mask)
        if len(candidates):
            examples.append((caption, int(candidates[np.argmin(score[candidates])])))
    return examples


def render_html(context: dict, template: str = "report.html.j2") -> str:
    """A page from one of the package's templates; every value is HTML-escaped."""
    import jinja2

    loader = jinja2.PackageLoader("imdb_pipeline.stages", "templates")
    env = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
    return env.get_template(template).render(**context)


def render_report(metrics: dict, evaluation: dict, examples: list[dict]) -> str:
    """The run's page from its ``metrics.json`` (an older run's too), evaluation and example reviews."""
    labels = {
        "model": report_text.describe_configuration(metrics["config"]),
        "features": report_text.describe_features(metrics["config"]),
        "data_path": report_text.data_path_lines(metrics["data"], metrics["config"]["data_path"]),
        "path_keys": report_text.PATH_KEYS,
        "example_words": EXAMPLE_WORDS,
    }
    return render_html(
        {
            "metrics": metrics,
            "evaluation": evaluation,
            "examples": examples,
            "labels": labels,
            "images": IMAGES,
        }
    )


def report(inputs: dict[str, str], config: PipelineConfig, out: artifacts.StageOutput) -> dict[str, str]:
    history = artifacts.read_json(inputs["history"])
    evaluation = artifacts.read_json(inputs["evaluation"])
    decision = artifacts.read_json(inputs["decision"])
    predictions = artifacts.load_arrays(inputs["predictions"])
    labels, probabilities = predictions["labels"], predictions["probabilities"]
    run_path = out.run_path

    plot_curve(
        history["validation_history"], "loss", history["best_epoch"], out.path("loss_plot", IMAGES["loss"])
    )
    plot_curve(
        history["validation_history"],
        "accuracy",
        history["best_epoch"],
        out.path("accuracy_plot", IMAGES["accuracy"]),
    )
    plot_confusion_matrix(
        labels, probabilities, evaluation["threshold"], out.path("confusion_plot", IMAGES["confusion"])
    )
    plot_roc(labels, probabilities, out.path("roc_plot", IMAGES["roc"]))

    word_rank = artifacts.read_json(inputs["word_index"])
    test_tokens = tokenized.load_split(inputs["test_tokens"])
    examples = []
    for caption, index in pick_examples(labels, probabilities):
        tokens = test_tokens.tokens[test_tokens.offsets[index] + 1 : test_tokens.offsets[index + 1]]
        words = tokenizer.decode(tokens[:EXAMPLE_WORDS], word_rank)
        examples.append(
            {
                "caption": caption,
                "text": words + (" …" if len(tokens) > EXAMPLE_WORDS else ""),
                "probability": float(probabilities[index]),
                "label": "positive" if labels[index] else "negative",
            }
        )

    timings = stage_timings(run_path)
    timings["report"] = out.meter.snapshot() if out.meter else {}
    metrics = {
        "test_accuracy": evaluation["test_accuracy"],
        "test_loss": evaluation["test_loss"],
        "roc_auc": evaluation["roc_auc"],
        "precision": evaluation["precision"],
        "recall": evaluation["recall"],
        "f1": evaluation["f1"],
        "confusion_matrix": evaluation["confusion_matrix"],
        "best_epoch": history["best_epoch"],
        "final_epochs": history["final_epochs"],
        "parameters": history["parameters"],
        "trainable_parameters": history.get("trainable_parameters", history["parameters"]),
        "seconds_per_epoch": history["seconds_per_epoch"],
        "history": {"validation_run": history["validation_history"], "final_fit": history["final_history"]},
        # The gate's verdict: blessed (the promote task makes it the champion) or not, and why.
        "gate": {
            key: decision[key]
            for key in (
                "blessed",
                "reason",
                "checks",
                "min_accuracy",
                "max_regression",
                "force_promote",
                "champion",
            )
        },
        "config": config.to_dict(),
        "data": artifacts.read_manifest(run_path / "ingest").get("summary", {}),
        "timings": timings,
        "total_wall_seconds": round(sum(t.get("wall_seconds", 0.0) for t in timings.values()), 3),
        "run": run_path.name,
    }
    artifacts.write_json(out.path("metrics", "metrics.json"), metrics)
    html = render_report(metrics, evaluation, examples)
    artifacts.atomic_write_bytes(out.path("report", "report.html"), html.encode("utf-8"))
    log.info("report: %s (test accuracy %.4f)", out.final_paths()["report"], metrics["test_accuracy"])
    return out.final_paths()
