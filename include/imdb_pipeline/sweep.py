"""The book's "further experiments" (DLwP 3.4.5) as one comparable sweep.

Every trial trains on the same validation split (the sweep's ``validation_size`` and ``seed``);
trials with the same ``num_words`` and ``ngrams`` share one vectorized dataset. The winner is the
trial with the best validation accuracy (ties: lower validation loss), chosen without looking at
the test set; only the winner is then evaluated on it. The comparison report has a table of the
trials, their validation curves overlaid, and the winner's test scores.

Folders of a sweep run: ``ingest/``, ``vectorize-w<num_words>-n<ngrams>/``, ``train-<NN>/`` per
trial, ``evaluate/`` (the winner), ``report/`` (``sweep.json``, ``validation_curves.png``,
``report.html``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from imdb_pipeline import artifacts, pipeline
from imdb_pipeline.config import GATE_PARAMS, TRIAL_PARAMS, PipelineConfig, Trial, plan_trials
from imdb_pipeline.errors import MissingUpstreamError

log = logging.getLogger(__name__)

DAG_ID = "imdb_experiments"


def shared_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The sweep's parameters without its grid: what ingest and every trial start from."""
    return {name: value for name, value in params.items() if name != "grid"}


def trials_of(records: Sequence[Mapping[str, Any]] | None, params: Mapping[str, Any]) -> list[Trial]:
    """Trials back from their XCom form (``Trial.to_dict``); planned again from the run's params when
    the XCom is absent (``airflow tasks test``): the plan depends on nothing else."""
    if records is None:
        return plan_trials(params)
    return [Trial(record["index"], record["name"], dict(record["params"])) for record in records]


def vectorize_folder(trial: Trial) -> str:
    return f"vectorize-{trial.features}"


def train_folder(trial: Trial) -> str:
    return f"train-{trial.index:02d}"


def vectorize_all(
    trials: Sequence[Trial], run_path: Path, ingested: Mapping[str, str] | None
) -> dict[str, dict[str, str]]:
    """One vectorized dataset per distinct (num_words, ngrams) of the trials."""
    outputs: dict[str, dict[str, str]] = {}
    for trial in trials:
        if trial.features not in outputs:
            outputs[trial.features] = pipeline.run_stage(
                "vectorize", trial.params, run_path, [ingested], DAG_ID, folder=vectorize_folder(trial)
            )
    return outputs


def train_trial(
    trial: Trial,
    run_path: Path,
    ingested: Mapping[str, str] | None,
    vectorized: Mapping[str, Mapping[str, str]] | None,
) -> dict[str, str]:
    """The train stage with the trial's parameters, into ``train-<NN>/``."""
    log.info("trial %d (%s): %s", trial.index, trial.name, trial.params)
    return pipeline.run_stage(
        "train",
        trial.params,
        run_path,
        [ingested, (vectorized or {}).get(trial.features)],
        DAG_ID,
        folder=train_folder(trial),
        upstream_folders={"vectorize": vectorize_folder(trial)},
    )


def _trained(
    trials: Sequence[Trial], run_path: Path, trained: Sequence[Mapping[str, str]] | None
) -> list[dict[str, str]]:
    """Each trial's train outputs (from XCom, in trial order, else from its folder), verified."""
    return [
        pipeline.outputs_of(
            trained[position] if trained and position < len(trained) else None,
            run_path,
            train_folder(trial),
            DAG_ID,
            task_id=f"train --map-index {trial.index}",
        )
        for position, trial in enumerate(trials)
    ]


def summarize_trial(trial: Trial, history: Mapping[str, Any]) -> dict[str, Any]:
    """One row of the comparison table, from the trial's ``history.json``."""
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
        "parameters": history["parameters"],
        "train_seconds": round(history["validation_fit_seconds"] + history["final_fit_seconds"], 2),
        "seconds_per_epoch": history["seconds_per_epoch"],
        "params": trial.params,
    }


def pick_winner(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """Best validation accuracy; ties go to the lower validation loss, then the earlier trial."""
    return max(rows, key=lambda row: (row["best_val_accuracy"], -row["val_loss_at_best"], -row["index"]))


def evaluate_winner(
    trials: Sequence[Trial],
    run_path: Path,
    trained: Sequence[Mapping[str, str]] | None,
    vectorized: Mapping[str, Mapping[str, str]] | None,
) -> dict[str, str]:
    """The winning trial's final model scored on the test set, into ``evaluate/``."""
    outputs = _trained(trials, run_path, trained)
    rows = [
        summarize_trial(trial, artifacts.read_json(out["history"])) for trial, out in zip(trials, outputs)
    ]
    position = rows.index(pick_winner(rows))
    winner = trials[position]
    log.info("winner: trial %d (%s)", winner.index, winner.name)
    return pipeline.run_stage(
        "evaluate",
        winner.params,
        run_path,
        [(vectorized or {}).get(winner.features), outputs[position]],
        DAG_ID,
        upstream_folders={"vectorize": vectorize_folder(winner), "train": train_folder(winner)},
    )


def report_sweep(
    trials: Sequence[Trial],
    params: Mapping[str, Any],
    run_path: Path,
    trained: Sequence[Mapping[str, str]] | None,
    evaluated: Mapping[str, str] | None,
) -> dict[str, str]:
    """The comparison report, into ``report/``."""
    inputs = {
        f"history_{trial.index:02d}": out["history"]
        for trial, out in zip(trials, _trained(trials, run_path, trained))
    }
    inputs["evaluation"] = pipeline.outputs_of(
        evaluated, run_path, "evaluate", DAG_ID, task_id="evaluate_winner"
    )["evaluation"]

    def write(inputs: dict[str, str], config: PipelineConfig, out: artifacts.StageOutput) -> dict[str, str]:
        return write_comparison(trials, inputs, config, out)

    return pipeline.run_in_folder(
        write, PipelineConfig.from_params(shared_params(params)), run_path, "report", inputs
    )


def plot_validation_curves(
    trials: Sequence[Trial], histories: Sequence[Mapping[str, Any]], winner: int, path: Path
) -> None:
    """Validation loss and accuracy of every trial on one figure; the winner drawn bold."""
    from matplotlib.ticker import MaxNLocator

    from imdb_pipeline import report

    plt, fig, (loss_ax, accuracy_ax) = report.figure(columns=2, size=(12, 4.6))
    colors = plt.get_cmap("tab10" if len(trials) <= 10 else "tab20")
    for trial, history in zip(trials, histories):
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


def write_comparison(
    trials: Sequence[Trial], inputs: Mapping[str, str], config: PipelineConfig, out: artifacts.StageOutput
) -> dict[str, str]:
    from imdb_pipeline import report

    histories = [artifacts.read_json(inputs[f"history_{trial.index:02d}"]) for trial in trials]
    rows = [summarize_trial(trial, history) for trial, history in zip(trials, histories)]
    winner = pick_winner(rows)
    evaluation = artifacts.read_json(inputs["evaluation"])
    evaluated_config = artifacts.read_manifest(Path(inputs["evaluation"]).parent)["config"]
    if evaluated_config != winner["params"]:  # evaluate and report must agree on the winner
        raise MissingUpstreamError(
            "the evaluated model is not the winning trial's: rerun evaluate_winner, then report."
        )
    plot_validation_curves(trials, histories, winner["index"], out.path("curves", "validation_curves.png"))
    summary = {
        "trials": rows,
        "winner": {
            "index": winner["index"],
            "name": winner["name"],
            "best_val_accuracy": winner["best_val_accuracy"],
            "test_accuracy": evaluation["test_accuracy"],
            "test_loss": evaluation["test_loss"],
            "roc_auc": evaluation["roc_auc"],
            "params": winner["params"],
        },
        "config": config.to_dict(),
        "shared_params": {
            name: value for name, value in config.to_dict().items() if name not in TRIAL_PARAMS + GATE_PARAMS
        },
        "data": artifacts.read_manifest(out.dir.parent / "ingest").get("summary", {}),
        "run": out.dir.parent.name,
    }
    artifacts.write_json(out.path("sweep", "sweep.json"), summary)
    html = report.render_html(
        {"sweep": summary, "images": {"curves": "validation_curves.png"}}, "sweep_report.html.j2"
    )
    artifacts.atomic_write_bytes(out.path("report", "report.html"), html.encode("utf-8"))
    log.info(
        "sweep winner: %s, validation accuracy %.4f, test accuracy %.4f",
        winner["name"],
        winner["best_val_accuracy"],
        evaluation["test_accuracy"],
    )
    return out.final_paths()


def plan(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The trials of a sweep run, validated, in their XCom form."""
    return [trial.to_dict() for trial in plan_trials(params)]
