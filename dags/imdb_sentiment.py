"""
### IMDB review sentiment — *Deep Learning with Python* §3.4 as a pipeline

Classifies movie reviews as positive or negative with the book's densely connected network:
multi-hot vectors of the top `num_words` words → Dense(16, relu) → Dense(16, relu) → Dense(1, sigmoid).

`ingest` → `vectorize` → `train` → `evaluate` → `gate` → `report`, `promote`

The **gate** blesses the model when its test accuracy is at least `min_accuracy` and not more than
`max_regression` below the current champion's; **promote** then makes it the champion
(`$IMDB_ARTIFACT_ROOT/champion/`, the model `python -m imdb_pipeline.predict` scores with). A model
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
from airflow.sdk.exceptions import AirflowSkipException

from imdb_model.imdb_model_dag_support import DEFAULT_ARGS, TRAINING_POOL, params_from_specs, run_stage
from imdb_pipeline.config import PARAM_SPECS

# Weekly retraining by default; IMDB_SCHEDULE overrides it per deployment (a cron expression,
# a preset like "@daily", or "none" for manual runs only).
SCHEDULE = os.environ.get("IMDB_SCHEDULE", "@weekly")


@dag(
    dag_id="imdb_sentiment",
    dag_display_name="IMDB review sentiment (DLwP 3.4)",
    description="Train and evaluate the book's IMDB review classifier; report metrics and curves.",
    doc_md=__doc__,
    schedule=None if SCHEDULE.lower() == "none" else SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=int(os.environ.get("IMDB_MAX_ACTIVE_RUNS", "1")),
    tags=["ml", "keras", "imdb"],
    params=params_from_specs(PARAM_SPECS),
    default_args=DEFAULT_ARGS,
)
def imdb_sentiment():
    @task(task_display_name="Ingest reviews")
    def ingest() -> dict[str, str]:
        """Read IMDB (Keras' `imdb.npz` or raw `aclImdb`), tokenize, save token arrays + word index."""
        return run_stage("ingest")

    @task(task_display_name="Vectorize (multi-hot)")
    def vectorize(ingested: dict[str, str] | None) -> dict[str, str]:
        """Multi-hot the top `num_words` words (sparse on disk); shuffle; first `validation_size` rows validate."""
        return run_stage("vectorize", ingested)

    @task(task_display_name="Train model", execution_timeout=pendulum.duration(hours=2), pool=TRAINING_POOL)
    def train(ingested: dict[str, str] | None, vectorized: dict[str, str] | None) -> dict[str, str]:
        """Fit `epochs` with validation, pick the epoch count, refit on all training data, save `model.keras`."""
        return run_stage("train", ingested, vectorized)

    @task(task_display_name="Evaluate on test set")
    def evaluate(vectorized: dict[str, str] | None, trained: dict[str, str] | None) -> dict[str, str]:
        """Test loss, accuracy, ROC AUC, confusion matrix and per-review predictions."""
        return run_stage("evaluate", vectorized, trained)

    @task(task_display_name="Gate (bless or not)")
    def gate(evaluated: dict[str, str] | None) -> dict[str, str]:
        """Blessed when test accuracy ≥ `min_accuracy` and ≥ the champion's − `max_regression`; `decision.json` says why."""
        return run_stage("gate", evaluated)

    @task(task_display_name="Write report")
    def report(
        ingested: dict[str, str] | None,
        trained: dict[str, str] | None,
        evaluated: dict[str, str] | None,
        gated: dict[str, str] | None,
    ) -> dict[str, str]:
        """`metrics.json`, the book's loss/accuracy curves, confusion matrix, ROC, the gate's decision and `report.html`."""
        return run_stage("report", ingested, trained, evaluated, gated)

    @task(task_display_name="Promote to champion")
    def promote(
        trained: dict[str, str] | None, evaluated: dict[str, str] | None, gated: dict[str, str] | None
    ) -> dict[str, str]:
        """Switch `champion/` to this model when the gate blessed it; *skipped* otherwise."""
        from imdb_model.imdb_model_dag_support import current_run
        from imdb_pipeline import champion, pipeline
        from imdb_pipeline import gate as model_gate

        context, run_path = current_run()
        blessed, reason = model_gate.is_blessed(
            pipeline.outputs_of(gated, run_path, "gate", context["dag"].dag_id)
        )
        if not blessed:
            raise AirflowSkipException(f"the champion stays: {reason}")
        promoted = run_stage("promote", trained, evaluated, gated)
        done, why = champion.was_promoted(promoted)
        if not done:  # a better champion arrived after the gate ran
            raise AirflowSkipException(f"the champion stays: {why}")
        return promoted

    ingested = ingest()
    vectorized = vectorize(ingested)
    trained = train(ingested, vectorized)
    evaluated = evaluate(vectorized, trained)
    gated = gate(evaluated)
    report(ingested, trained, evaluated, gated)
    promote(trained, evaluated, gated)


imdb_sentiment()
