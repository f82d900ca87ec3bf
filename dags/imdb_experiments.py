"""
### IMDB further experiments — *Deep Learning with Python* §3.4.5 as one sweep

The book ends its IMDB example with experiments to try: 1 or 3 hidden layers, 32 or 64 units, the
`mse` loss, `tanh`. This DAG runs them as **one comparable sweep**:

`plan` → `ingest` → `vectorize` → `train` ×N (dynamic task mapping, one per configuration) →
`evaluate_winner` → `report`

* Every configuration trains on the **same** validation reviews (`validation_size`, `seed`), with
  the book's protocol (validation run, then a final fit for the best epoch).
* The `grid` param lists the configurations: each object names a trial and the parameters it
  changes (`num_words`, `ngrams`, `weighting`, `hidden_layers`, `units`, `dropout`, `l2`, `activation`,
  `loss`, …). The default is the book's list, one factor at a time, plus uni+bigrams with dropout
  and four linear models (`hidden_layers` 0) on a million weighted n-gram columns, the strongest.
* Trainings run one at a time (`max_active_tis_per_dagrun`, and the `imdb_training` pool), so a
  2-core worker is never oversubscribed. Each mapped task is labelled with its trial's name.
* The winner is picked on **validation accuracy only**; then it alone is scored on the test set.

During development `plan`, `ingest` and `vectorize` also run alone under `airflow tasks test`; the
mapped `train` cannot (its trials come from `plan`'s XCom, which `tasks test` does not keep), so
develop a sweep with `airflow dags test imdb_experiments`.

The report (`$IMDB_ARTIFACT_ROOT/imdb_experiments/<run id>/report/report.html`, also the run's
"Report" tab) has the comparison table, the validation curves overlaid, and the winner's test scores.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag, task

from imdb_airflow.dag_support import (
    DEFAULT_ARGS,
    TRAINING_POOL,
    Outputs,
    current_run,
    params_from_specs,
    plain_refusals,
)
from imdb_pipeline.sweep.plan import SWEEP_PARAM_SPECS

# Trainings of one sweep at a time: each already uses both cores of a small worker.
TRAININGS_AT_ONCE = int(os.environ.get("IMDB_SWEEP_TRAININGS_AT_ONCE", "1"))


@dag(
    dag_id="imdb_experiments",
    dag_display_name="IMDB further experiments (DLwP 3.4.5 sweep)",
    description="Train the book's further experiments on one validation split and compare them.",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["ml", "keras", "imdb", "experiments"],
    params=params_from_specs(SWEEP_PARAM_SPECS),
    default_args=DEFAULT_ARGS,
)
def imdb_experiments():
    @task(task_display_name="Plan trials")
    def plan() -> list[dict]:
        """Validate the `grid` and the shared params; one record (name + full params) per trial."""
        from imdb_pipeline.sweep import steps

        with plain_refusals():  # a bad grid: its one-line message, no retry
            context, _ = current_run()
            return steps.plan(context["params"])

    @task(task_display_name="Ingest reviews")
    def ingest() -> Outputs:
        """Read and tokenize the reviews once for every trial."""
        from imdb_pipeline.sweep import steps

        with plain_refusals():  # missing or broken data: its one-line message, no retry
            context, run_path = current_run()
            return steps.ingest(context["params"], run_path, context["dag"].dag_id)

    @task(task_display_name="Vectorize (per feature set)")
    def vectorize(ingested: Outputs | None, trials: list[dict] | None) -> dict[str, Outputs]:
        """One multi-hot dataset per distinct (`num_words`, `ngrams`) of the trials."""
        from imdb_pipeline.sweep import steps

        context, run_path = current_run()
        trials = steps.trials_of(trials, context["params"])
        return steps.vectorize_all(trials, run_path, context["dag"].dag_id, ingested)

    @task(
        task_display_name="Train trial",
        map_index_template="{{ task.op_kwargs['trial']['name'] }}",
        pool=TRAINING_POOL,
        max_active_tis_per_dagrun=TRAININGS_AT_ONCE,
        execution_timeout=pendulum.duration(hours=2),
        # A mapped task does not take its docstring as doc_md: given here.
        doc_md="The book's protocol with this trial's parameters: validation run, best epoch, final fit.",
    )
    def train(trial: dict, ingested: Outputs | None, vectorized: dict[str, Outputs] | None) -> Outputs:
        from imdb_pipeline.sweep import steps

        context, run_path = current_run()
        (trial,) = steps.trials_of([trial], context["params"])
        return steps.train_trial(trial, run_path, context["dag"].dag_id, ingested, vectorized)

    @task(task_display_name="Evaluate the winner")
    def evaluate_winner(
        trials: list[dict] | None, trained: list[Outputs] | None, vectorized: dict[str, Outputs] | None
    ) -> Outputs:
        """Pick the best validation accuracy (never looking at the test set); score it on the test set."""
        from imdb_pipeline.sweep import steps

        context, run_path = current_run()
        trials = steps.trials_of(trials, context["params"])
        return steps.evaluate_winner(
            trials, run_path, context["dag"].dag_id, trained and list(trained), vectorized
        )

    @task(task_display_name="Write comparison report")
    def report(
        trials: list[dict] | None, trained: list[Outputs] | None, evaluated: Outputs | None
    ) -> Outputs:
        """Table of trials, overlaid validation curves, the winner's test scores, `report.html`."""
        from imdb_pipeline.sweep import steps

        context, run_path = current_run()
        params = context["params"]
        trained = trained and list(trained)
        return steps.report(
            steps.trials_of(trials, params), params, run_path, context["dag"].dag_id, trained, evaluated
        )

    trials = plan()
    ingested = ingest()
    trials >> ingested  # a bad grid fails before any work
    vectorized = vectorize(ingested, trials)
    trained = train.partial(ingested=ingested, vectorized=vectorized).expand(trial=trials)
    evaluated = evaluate_winner(trials, trained, vectorized)
    report(trials, trained, evaluated)


imdb_experiments()
