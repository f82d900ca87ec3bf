"""The book's "further experiments" (DLwP 3.4.5) as one comparable sweep: the steps its DAG runs.

Every trial trains on the same validation split (the sweep's ``validation_size`` and ``seed``);
trials with the same ``num_words`` and ``ngrams`` share one vectorized dataset. The winner is the
trial with the best validation accuracy (ties: lower validation loss), chosen without looking at
the test set; only the winner is then evaluated on it.

Folders of a sweep run: ``ingest/``, ``vectorize-w<num_words>-n<ngrams>/``, ``train-<NN>/`` per
trial, ``evaluate/`` (the winner), ``report/`` (see ``comparison``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from imdb_pipeline.core.parameters import PipelineConfig
from imdb_pipeline.stages import runner
from imdb_pipeline.stages.graph import Outputs
from imdb_pipeline.store import artifacts
from imdb_pipeline.sweep import comparison
from imdb_pipeline.sweep.plan import Trial, plan_trials

log = logging.getLogger(__name__)


def plan(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The trials of a sweep run, validated, in their XCom form."""
    return [trial.to_dict() for trial in plan_trials(params)]


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


def ingest(params: Mapping[str, Any], run_path: Path, dag_id: str) -> Outputs:
    """The reviews, read and tokenized once for every trial."""
    return runner.run_stage("ingest", shared_params(params), run_path, dag_id=dag_id)


def vectorize_all(
    trials: Sequence[Trial], run_path: Path, dag_id: str, ingested: Outputs | None
) -> dict[str, Outputs]:
    """One vectorized dataset per distinct (num_words, ngrams) of the trials."""
    outputs: dict[str, Outputs] = {}
    for trial in trials:
        if trial.features not in outputs:
            outputs[trial.features] = runner.run_stage(
                "vectorize",
                trial.params,
                run_path,
                {"ingest": ingested},
                dag_id,
                folder=vectorize_folder(trial),
            )
    return outputs


def train_trial(
    trial: Trial,
    run_path: Path,
    dag_id: str,
    ingested: Outputs | None,
    vectorized: Mapping[str, Outputs] | None,
) -> Outputs:
    """The train stage with the trial's parameters, into ``train-<NN>/``."""
    log.info("trial %d (%s): %s", trial.index, trial.name, trial.params)
    return runner.run_stage(
        "train",
        trial.params,
        run_path,
        {"ingest": ingested, "vectorize": (vectorized or {}).get(trial.features)},
        dag_id,
        folder=train_folder(trial),
        upstream_folders={"vectorize": vectorize_folder(trial)},
    )


def trained_outputs(
    trials: Sequence[Trial], run_path: Path, dag_id: str, trained: Sequence[Outputs] | None
) -> list[Outputs]:
    """Each trial's train outputs (from XCom, in trial order, else from its folder), verified."""
    return [
        runner.outputs_of(
            trained[position] if trained and position < len(trained) else None,
            run_path,
            train_folder(trial),
            dag_id,
            task_id=f"train --map-index {trial.index}",
        )
        for position, trial in enumerate(trials)
    ]


def evaluate_winner(
    trials: Sequence[Trial],
    run_path: Path,
    dag_id: str,
    trained: Sequence[Outputs] | None,
    vectorized: Mapping[str, Outputs] | None,
) -> Outputs:
    """The winning trial's final model scored on the test set, into ``evaluate/``."""
    outputs = trained_outputs(trials, run_path, dag_id, trained)
    rows = [
        comparison.summarize_trial(trial, artifacts.read_json(out["history"]))
        for trial, out in zip(trials, outputs, strict=True)
    ]
    position = rows.index(comparison.pick_winner(rows))
    winner = trials[position]
    log.info("winner: trial %d (%s)", winner.index, winner.name)
    return runner.run_stage(
        "evaluate",
        winner.params,
        run_path,
        {"vectorize": (vectorized or {}).get(winner.features), "train": outputs[position]},
        dag_id,
        upstream_folders={"vectorize": vectorize_folder(winner), "train": train_folder(winner)},
    )


def report(
    trials: Sequence[Trial],
    params: Mapping[str, Any],
    run_path: Path,
    dag_id: str,
    trained: Sequence[Outputs] | None,
    evaluated: Outputs | None,
) -> Outputs:
    """The comparison report, into ``report/``."""
    outputs = trained_outputs(trials, run_path, dag_id, trained)
    inputs = {
        f"history_{trial.index:02d}": out["history"] for trial, out in zip(trials, outputs, strict=True)
    }
    evaluation = runner.outputs_of(evaluated, run_path, "evaluate", dag_id, task_id="evaluate_winner")
    inputs["evaluation"] = evaluation["evaluation"]

    def write(inputs: dict[str, str], config: PipelineConfig, out: artifacts.StageOutput) -> Outputs:
        return comparison.write_comparison(trials, inputs, config, out)

    config = PipelineConfig.from_params(shared_params(params))
    return runner.run_in_folder(write, config, run_path, "report", inputs)
