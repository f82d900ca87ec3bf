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
from datetime import timedelta

import pendulum
from airflow.sdk import ExceptionRetryPolicy, Param, RetryAction, RetryRule, dag, task
from airflow.sdk.exceptions import AirflowSkipException

from imdb_pipeline.config import PARAM_SPECS

# Bad input (a wrong path, a corrupt archive, an invalid parameter) cannot be fixed by retrying:
# fail at once with the stage's message. Anything else (a flaky download, a lost worker) retries.
FAIL_ON_BAD_INPUT = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception="imdb_pipeline.errors.PipelineInputError",
            action=RetryAction.FAIL,
            reason="bad input: retrying cannot help; see the error message",
        )
    ]
)


# Weekly retraining by default; IMDB_SCHEDULE overrides it per deployment (a cron expression,
# a preset like "@daily", or "none" for manual runs only).
SCHEDULE = os.environ.get("IMDB_SCHEDULE", "@weekly")
# Training takes both cores of a small worker: one slot, so scheduled and manual runs never train
# two models at once. Create it once per deployment: `airflow pools set imdb_training 1 "..."`.
TRAINING_POOL = "imdb_training"


def _run_folder():
    """(context, artifact folder) of the current DAG run."""
    from airflow.sdk import get_current_context

    from imdb_pipeline import artifacts

    context = get_current_context()
    return context, artifacts.run_dir(context["dag"].dag_id, context["run_id"], context.get("logical_date"))


def _run_stage(stage: str, *upstream: dict | None) -> dict[str, str]:
    """Run ``stage`` for the current DAG run; upstream XCom may be None under `airflow tasks test`."""
    from imdb_pipeline import pipeline

    context, run_path = _run_folder()
    return pipeline.run_stage(stage, dict(context["params"]), run_path, upstream, dag_id=context["dag"].dag_id)


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
    params={name: Param(spec["default"], **{k: v for k, v in spec.items() if k != "default"}) for name, spec in PARAM_SPECS.items()},
    default_args={
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "retry_policy": FAIL_ON_BAD_INPUT,
    },
)
def imdb_sentiment():
    @task(task_display_name="Ingest reviews")
    def ingest() -> dict[str, str]:
        """Read IMDB (Keras' `imdb.npz` or raw `aclImdb`), tokenize, save token arrays + word index."""
        return _run_stage("ingest")

    @task(task_display_name="Vectorize (multi-hot)")
    def vectorize(ingested: dict[str, str] | None) -> dict[str, str]:
        """Multi-hot the top `num_words` words (sparse on disk); shuffle; first `validation_size` rows validate."""
        return _run_stage("vectorize", ingested)

    @task(task_display_name="Train model", execution_timeout=timedelta(hours=2), pool=TRAINING_POOL)
    def train(ingested: dict[str, str] | None, vectorized: dict[str, str] | None) -> dict[str, str]:
        """Fit `epochs` with validation, pick the epoch count, refit on all training data, save `model.keras`."""
        return _run_stage("train", ingested, vectorized)

    @task(task_display_name="Evaluate on test set")
    def evaluate(vectorized: dict[str, str] | None, trained: dict[str, str] | None) -> dict[str, str]:
        """Test loss, accuracy, ROC AUC, confusion matrix and per-review predictions."""
        return _run_stage("evaluate", vectorized, trained)

    @task(task_display_name="Gate (bless or not)")
    def gate(evaluated: dict[str, str] | None) -> dict[str, str]:
        """Blessed when test accuracy ≥ `min_accuracy` and ≥ the champion's − `max_regression`; `decision.json` says why."""
        return _run_stage("gate", evaluated)

    @task(task_display_name="Write report")
    def report(
        ingested: dict[str, str] | None, trained: dict[str, str] | None, evaluated: dict[str, str] | None, gated: dict[str, str] | None
    ) -> dict[str, str]:
        """`metrics.json`, the book's loss/accuracy curves, confusion matrix, ROC, the gate's decision and `report.html`."""
        return _run_stage("report", ingested, trained, evaluated, gated)

    @task(task_display_name="Promote to champion")
    def promote(trained: dict[str, str] | None, evaluated: dict[str, str] | None, gated: dict[str, str] | None) -> dict[str, str]:
        """Switch `champion/` to this model when the gate blessed it; *skipped* otherwise."""
        from imdb_pipeline import artifacts, gate as model_gate

        context, run_path = _run_folder()
        blessed, reason = model_gate.is_blessed(gated or artifacts.read_stage(run_path, "gate", context["dag"].dag_id))
        if not blessed:
            raise AirflowSkipException(f"the champion stays: {reason}")
        return _run_stage("promote", trained, evaluated, gated)

    ingested = ingest()
    vectorized = vectorize(ingested)
    trained = train(ingested, vectorized)
    evaluated = evaluate(vectorized, trained)
    gated = gate(evaluated)
    report(ingested, trained, evaluated, gated)
    promote(trained, evaluated, gated)


imdb_sentiment()
