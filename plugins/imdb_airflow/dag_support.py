"""What the project's DAG files share: retry policy, the training pool, Params, running a stage.

DAG files stay thin (wiring, schedule, docs); the dags folder is not importable on Airflow 3
workers, so shared DAG code lives in this installed package. At module level it imports
``airflow.sdk``, the library's errors and its stage graph (neither imports anything); the rest of the
library is imported inside the functions that need it, so that parsing a DAG file stays fast.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Iterator, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from airflow.sdk import Asset, ExceptionRetryPolicy, Param, RetryAction, RetryRule

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.stages.graph import GRAPH, Outputs  # the graph alone: no stage is loaded to parse a DAG

log = logging.getLogger(__name__)

# Data-aware scheduling and lineage (the Assets view): what the DAGs produce and consume.
TRAINING_DATA = Asset("imdb_training_data")  # the reviews a training run reads
CHAMPION = Asset("imdb_champion")  # the model in use; an event per promotion, its version in extra

# Bad input (a wrong path, a corrupt archive, an invalid parameter) cannot be fixed by retrying:
# fail at once with the stage's message. Anything else (a flaky download, a lost worker) retries.
FAIL_ON_BAD_INPUT = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=PipelineInputError,  # the class itself: a moved module fails at import, not silently
            action=RetryAction.FAIL,
            reason="bad input: retrying cannot help; see the error message",
        )
    ]
)

DEFAULT_ARGS: dict[str, Any] = {
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
    "retry_policy": FAIL_ON_BAD_INPUT,
}

# Training takes both cores of a small worker: one slot, so scheduled and manual runs (and a
# sweep's mapped trainings) never train two models at once. Create it once per deployment:
# `airflow pools set imdb_training 1 "..."` (docker compose's airflow-init does).
TRAINING_POOL = "imdb_training"


def params_from_specs(specs: Mapping[str, Mapping[str, Any]]) -> dict[str, Param]:
    """Typed trigger-form Params from JSON-schema specs (``default`` + schema keys + title, description).
    A bounded number's description ends with its range: the form moves a value outside it to the
    nearest end without a message, and the range next to the field says why."""
    params = {}
    for name, spec in specs.items():
        schema = {k: v for k, v in spec.items() if k != "default"}
        if {"minimum", "maximum"} <= set(schema) and "description" in schema:
            schema["description"] += f" From {_plain(spec['minimum'])} to {_plain(spec['maximum'])}."
        params[name] = Param(spec["default"], **schema)
    return params


def _plain(number: float) -> str:
    """A bound as people write it: 1,000,000; 0.99; 0.000001 (no exponent, no float noise)."""
    if float(number).is_integer():
        return f"{int(number):,}"
    return format(Decimal(repr(number)), "f")


@contextlib.contextmanager
def plain_refusals() -> Iterator[None]:
    """Bad input fails the task with its one-line message at the bottom of a short traceback: the
    library's frames under it are dropped (nothing in them helps whoever fixes the input); the
    exception stays what it is, so ``FAIL_ON_BAD_INPUT`` still stops the retries."""
    try:
        yield
    except PipelineInputError as error:
        # A copy: contextlib puts the original traceback back on the very exception it threw in.
        raise copy.copy(error).with_traceback(None) from None


def current_run() -> tuple[Any, Any]:
    """(context, artifact folder or bucket prefix) of the DAG run the calling task belongs to; the
    artifact root is checked first (a missing bucket fails the first task with one line)."""
    from airflow.sdk import get_current_context

    from imdb_airflow.storage import use_artifact_connection
    from imdb_pipeline.store import artifacts

    use_artifact_connection()
    root = artifacts.checked_root()
    context = get_current_context()
    run_path = artifacts.run_dir(context["dag"].dag_id, context["run_id"], context.get("logical_date"), root)
    return context, run_path


def run_stage(stage: str, **upstream: Outputs | None) -> Outputs:
    """Run ``stage`` for the current DAG run with its params. ``upstream`` names every stage it reads
    (``graph.GRAPH``): a task wired differently fails here. An upstream's XCom is None under
    ``airflow tasks test``; the stage then reads that upstream's folder."""
    from imdb_pipeline.stages import runner

    missing = sorted(set(GRAPH[stage]) - set(upstream))
    if missing:
        raise ValueError(f"task {stage} is not wired to {', '.join(missing)}: see stages.graph.GRAPH")
    with plain_refusals():
        context, run_path = current_run()
        return runner.run_stage(
            stage, dict(context["params"]), run_path, upstream, dag_id=context["dag"].dag_id
        )


def skip_unless_promoted(promoted: Outputs) -> Outputs:
    """The promote stage's outputs, announced as a ``CHAMPION`` asset event (version, model checksum and
    test accuracy in its extra); or a skip with the reason, in the log body where it is seen."""
    from airflow.sdk.exceptions import AirflowSkipException

    from imdb_pipeline.store import artifacts

    record = artifacts.read_json(promoted["promotion"])
    if not record["promoted"]:
        log.info("not promoted, the champion stays: %s", record["reason"])
        raise AirflowSkipException(f"not promoted, the champion stays: {record['reason']}")
    context, _ = current_run()
    extra = {key: record[key] for key in ("version", "model_sha256", "test_accuracy")}
    context["outlet_events"][CHAMPION].extra = extra
    log.info("champion %s announced (%s)", record["version"], record["reason"])
    return promoted


def skip_scheduled_run_without_data() -> None:
    """A scheduled run trains unattended, with the DAG's default params: without a local copy of the
    data (``data_path``, the workers' ``IMDB_DATA_PATH``) or an earlier download in the cache it would
    go to the network and, on an offline worker, fail after its retries. It is skipped instead,
    saying why; manual runs are never skipped (they may download)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from imdb_pipeline.core.parameters import DATA_PATH_ENV, PipelineConfig
    from imdb_pipeline.store import artifacts, downloads

    context, _ = current_run()
    if context["dag_run"].run_type != "scheduled":
        return
    _, path = PipelineConfig.from_params(dict(context["params"])).data_location()
    cached = [artifacts.cache_dir() / name for name in downloads.CACHED_DATASETS]
    if path or any(file.is_file() for file in cached):
        return
    reason = (
        f"scheduled run skipped: no data source is configured for unattended runs. Set {DATA_PATH_ENV} on "
        "the workers (an imdb.npz, an aclImdb folder or an aclImdb*.tar.gz), or trigger a run with data_path "
        "(or with network access, to download once into the cache)."
    )
    log.warning(reason)
    raise AirflowSkipException(reason)


def inbox_flag_trigger(folder: Any, flag: str, poke_interval: float = 30.0) -> Any:
    """The asset watcher's trigger for ``flag`` in the inbox: the standard directory trigger for a
    folder (which creates it), ``BucketFlagTrigger`` for a bucket prefix. Parsing a DAG contacts no
    store and creates nothing: the triggerer does, once it runs the watcher."""
    from imdb_pipeline.store.object_store import ObjectPath

    if isinstance(folder, ObjectPath):
        from imdb_airflow.triggers import BucketFlagTrigger

        return BucketFlagTrigger(url=str(folder / flag), poke_interval=poke_interval)
    from imdb_airflow.triggers import InboxFlagTrigger

    return InboxFlagTrigger(directory=str(folder), filename=flag, poke_interval=poke_interval)
