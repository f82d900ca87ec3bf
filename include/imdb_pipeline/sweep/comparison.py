"""The sweep's comparison report: a table of the trials, their validation curves overlaid, and the
winner's test scores (``sweep.json``, ``validation_curves.png``, ``report.html``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from imdb_pipeline.core.errors import MissingUpstreamError
from imdb_pipeline.core.parameters import GATE_PARAMS, PipelineConfig
from imdb_pipeline.stages import report, report_text
from imdb_pipeline.store import artifacts
from imdb_pipeline.sweep.plan import TRIAL_PARAMS, Trial

log = logging.getLogger(__name__)


def summarize_trial(
    trial: Trial, history: Mapping[str, Any], manifest: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One row of the comparison table, from the trial's ``history.json`` (and its train folder's
    manifest: the task's peak memory, measured per stage even when stages share a process)."""
    validation = history["validation_history"]
    best = max(
        range(len(validation["val_accuracy"])),
        key=lambda epoch: (validation["val_accuracy"][epoch], -validation["val_loss"][epoch]),
    )
    return {
        "index": trial.index,
        "name": trial.name,
        "best_val_accuracy": validation["val_accuracy"][best],
        "best_val_accuracy_epoch": best + 1,
        "val_loss_at_best": validation["val_loss"][best],
        "lowest_val_loss": min(validation["val_loss"]),
        "lowest_val_loss_epoch": history["best_epoch"],
        "parameters": history.get("trainable_parameters", history["parameters"]),
        "train_seconds": round(history["validation_fit_seconds"] + history["final_fit_seconds"], 2),
        "seconds_per_epoch": history["seconds_per_epoch"],
        "peak_rss_mb": (manifest or {}).get("peak_rss_mb"),
        "params": trial.params,
    }


def pick_winner(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """Best validation accuracy; ties go to the lower validation loss, then the earlier trial."""
    return max(rows, key=lambda row: (row["best_val_accuracy"], -row["val_loss_at_best"], -row["index"]))


def plot_validation_curves(
    trials: Sequence[Trial], histories: Sequence[Mapping[str, Any]], winner: int, path: Path
) -> None:
    """Validation loss and accuracy of every trial on one figure; the winner drawn bold."""
    from matplotlib.ticker import MaxNLocator

    plt, fig, (loss_ax, accuracy_ax) = report.figure(columns=2, size=(12, 4.6))
    colors = plt.get_cmap("tab10" if len(trials) <= 10 else "tab20")
    for trial, history in zip(trials, histories, strict=True):
        validation = history["validation_history"]
        epochs = range(1, len(validation["val_loss"]) + 1)
        style = {
            "color": colors(trial.index % colors.N),
            "linewidth": 3.0 if trial.index == winner else 1.4,
            "label": trial.name + ("  (winner)" if trial.index == winner else ""),
        }
        loss_ax.plot(epochs, validation["val_loss"], **style)
        accuracy_ax.plot(epochs, validation["val_accuracy"], **style)
    for ax, metric in ((loss_ax, "loss"), (accuracy_ax, "accuracy")):
        ax.set_title(f"Validation {metric}")
        ax.set_xlabel("Epochs")
        ax.set_ylabel(metric.capitalize())
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    accuracy_ax.legend(fontsize=8, loc="lower right")
    report.save_figure(plt, fig, path)


def sweep_summary(
    rows: Sequence[Mapping[str, Any]],
    evaluation: Mapping[str, Any],
    config: PipelineConfig,
    data: Mapping[str, Any],
    run: str,
) -> dict[str, Any]:
    """``sweep.json``: the trials' rows, each described in words (its training where it differs from
    the sweep's, which ``training`` states once), the winner with its test scores, the shared
    parameters and ingest's data summary."""
    base = config.to_dict()
    rows = [{**row, "description": report_text.describe_configuration(row["params"], base)} for row in rows]
    winner = pick_winner(rows)
    return {
        "trials": rows,
        "training": report_text.describe_training(base),
        "winner": {
            "index": winner["index"],
            "name": winner["name"],
            "best_val_accuracy": winner["best_val_accuracy"],
            "test_accuracy": evaluation["test_accuracy"],
            "test_loss": evaluation["test_loss"],
            "roc_auc": evaluation["roc_auc"],
            "params": winner["params"],
        },
        "config": base,
        "shared_params": {
            name: value for name, value in base.items() if name not in TRIAL_PARAMS + GATE_PARAMS
        },
        "data": dict(data),
        "run": run,
    }


def render_page(summary: Mapping[str, Any]) -> str:
    """The comparison page from ``sweep.json``'s content."""
    context = {
        "sweep": summary,
        "images": {"curves": "validation_curves.png"},
        "data_path": report_text.data_path_lines(summary["data"], summary["config"]["data_path"]),
        "path_keys": report_text.PATH_KEYS,
    }
    return report.render_html(context, "sweep_report.html.j2")


def write_comparison(
    trials: Sequence[Trial], inputs: Mapping[str, str], config: PipelineConfig, out: artifacts.StageOutput
) -> dict[str, str]:
    histories = [artifacts.read_json(inputs[f"history_{trial.index:02d}"]) for trial in trials]
    manifests = [
        artifacts.read_manifest(Path(inputs[f"history_{trial.index:02d}"]).parent) for trial in trials
    ]
    rows = [
        summarize_trial(trial, history, manifest)
        for trial, history, manifest in zip(trials, histories, manifests, strict=True)
    ]
    evaluation = artifacts.read_json(inputs["evaluation"])
    data = artifacts.read_manifest(out.run_path / "ingest").get("summary", {})
    summary = sweep_summary(rows, evaluation, config, data, out.run_path.name)
    winner = summary["winner"]
    evaluated_config = artifacts.read_manifest(Path(inputs["evaluation"]).parent)["config"]
    if evaluated_config != winner["params"]:  # evaluate and report must agree on the winner
        raise MissingUpstreamError(
            "the evaluated model is not the winning trial's: rerun evaluate_winner, then report."
        )
    plot_validation_curves(trials, histories, winner["index"], out.path("curves", "validation_curves.png"))
    artifacts.write_json(out.path("sweep", "sweep.json"), summary)
    artifacts.atomic_write_bytes(out.path("report", "report.html"), render_page(summary).encode("utf-8"))
    log.info(
        "sweep winner: %s, validation accuracy %.4f, test accuracy %.4f",
        winner["name"],
        winner["best_val_accuracy"],
        evaluation["test_accuracy"],
    )
    return out.final_paths()
