"""
### IMDB review sentiment — *Deep Learning with Python* §3.4 as a pipeline

Classifies movie reviews as positive or negative with the book's densely connected network:
multi-hot vectors of the top `num_words` words → Dense(16, relu) → Dense(16, relu) → Dense(1, sigmoid).

`ingest` → `vectorize` → `train` → `evaluate` → `gate` → `report`, `promote`

The **gate** blesses the model when its test accuracy is at least `min_accuracy` and not more than
`max_regression` below the current champion's; **promote** then makes it the champion
(`$IMDB_ARTIFACT_ROOT/champion/`, the model `python -m imdb_pipeline.serving.predict` scores with). A model
that is not blessed leaves `promote` *skipped*, with the reason in its log and in the report.

Each task runs one plain-Python stage of `imdb_pipeline` and passes **paths**, never arrays, to the
next through XCom. Artifacts land in `$IMDB_ARTIFACT_ROOT/imdb_sentiment/<run id>/<stage>/`; the
report is `report/report.html` there. Trigger with parameters from the UI ("Trigger DAG" form) or
`airflow dags trigger imdb_sentiment --conf '{"num_words": 5000}'`; every parameter defaults to the
book's value. During development each task also runs alone:
`airflow tasks test imdb_sentiment ingest 2024-03-01`, then `vectorize`, `train`, … with the same date.
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag, task

from imdb_airflow.dag_support import (
    CHAMPION,
    DEFAULT_ARGS,
    TRAINING_DATA,
    TRAINING_POOL,
    Outputs,
    params_from_specs,
    run_stage,
    skip_scheduled_run_without_data,
    skip_unless_promoted,
)
from imdb_airflow.schedules import CronWithoutCatchUp
from imdb_pipeline.core.parameters import PARAM_SPECS

# Weekly retraining by default; IMDB_SCHEDULE overrides it per deployment (a cron expression,
# a preset like "@daily", or "none" for manual runs only).
SCHEDULE = os.environ.get("IMDB_SCHEDULE", "@weekly")


@dag(
    dag_id="imdb_sentiment",
    dag_display_name="IMDB review sentiment (DLwP 3.4)",
    description="Train and evaluate the book's IMDB review classifier; report metrics and curves.",
    doc_md=__doc__,
    schedule=None if SCHEDULE.lower() == "none" else CronWithoutCatchUp(SCHEDULE),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=int(os.environ.get("IMDB_MAX_ACTIVE_RUNS", "1")),
    tags=["ml", "keras", "imdb"],
    params=params_from_specs(PARAM_SPECS),
    default_args=DEFAULT_ARGS,
)
def imdb_sentiment():
    # Each task runs the stage of its name; it receives its upstream stages' outputs by stage name,
    # as stages.graph.GRAPH lists them (tests/dag_files/test_dag_integrity.py compares the two).
    @task(task_display_name="Ingest reviews", inlets=[TRAINING_DATA])
    def ingest() -> Outputs:
        """Read IMDB (Keras' `imdb.npz` or raw `aclImdb`), tokenize, save token arrays + word index."""
        skip_scheduled_run_without_data()
        return run_stage("ingest")

    @task(task_display_name="Vectorize (multi-hot)")
    def vectorize(ingest: Outputs) -> Outputs:
        """Multi-hot the top `num_words` features (sparse); the first `validation_size` rows validate."""
        return run_stage("vectorize", ingest=ingest)

    @task(
        task_display_name="Train model",
        execution_timeout=pendulum.duration(hours=2),
        pool=TRAINING_POOL,
    )
    def train(ingest: Outputs, vectorize: Outputs) -> Outputs:
        """Fit `epochs` with validation, pick the epoch count, refit on all training data."""
        return run_stage("train", ingest=ingest, vectorize=vectorize)

    @task(task_display_name="Evaluate on test set")
    def evaluate(vectorize: Outputs, train: Outputs) -> Outputs:
        """Test loss, accuracy, ROC AUC, confusion matrix and per-review predictions."""
        return run_stage("evaluate", vectorize=vectorize, train=train)

    @task(task_display_name="Gate (bless or not)")
    def gate(ingest: Outputs, evaluate: Outputs) -> Outputs:
        """Bless the model or not, against `min_accuracy` and the champion; `decision.json` says why."""
        return run_stage("gate", ingest=ingest, evaluate=evaluate)

    @task(task_display_name="Write report")
    def report(ingest: Outputs, train: Outputs, evaluate: Outputs, gate: Outputs) -> Outputs:
        """`metrics.json`, the book's curves, confusion matrix, ROC, the gate's decision, `report.html`."""
        return run_stage("report", ingest=ingest, train=train, evaluate=evaluate, gate=gate)

    @task(task_display_name="Promote to champion", outlets=[CHAMPION])
    def promote(train: Outputs, evaluate: Outputs, gate: Outputs) -> Outputs:
        """Make this model the champion when the gate blessed it; *skipped* (with the reason) otherwise."""
        return skip_unless_promoted(run_stage("promote", train=train, evaluate=evaluate, gate=gate))

    ingested = ingest()
    vectorized = vectorize(ingest=ingested)
    trained = train(ingest=ingested, vectorize=vectorized)
    evaluated = evaluate(vectorize=vectorized, train=trained)
    gated = gate(ingest=ingested, evaluate=evaluated)
    report(ingest=ingested, train=trained, evaluate=evaluated, gate=gated)
    promote(train=trained, evaluate=evaluated, gate=gated)


imdb_sentiment()
