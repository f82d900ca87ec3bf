"""Where a DAG run is, from Airflow's metadata DB, in a few words for the Report tab: the run's state,
then each task that failed or is under way (display name and id, map index, try), linking to its log.

The plugin runs inside the api-server, which holds the metadata DB session factory: ``lookup`` reads
the run's ``dag_run`` row and its ``task_instance`` rows in one short session (unscoped, as the REST
API's own endpoints open theirs) and hands back plain values. Airflow is imported inside the functions
(every Airflow component imports the plugin).
"""

from __future__ import annotations

import dataclasses
import logging
from urllib.parse import quote, urlencode

from imdb_airflow.web import base_path

log = logging.getLogger(__name__)

# A task instance's state -> what the line says of it, in the order they are listed: what failed
# first, then what is under way. "{n}": its try number; the others get "(try n)" once it has one.
UNDER_WAY = {
    "failed": "failed on try {n}",
    "up_for_retry": "failed on try {n} and will be retried",
    "running": "is running",
    "deferred": "is deferred, waiting for its trigger",
    "up_for_reschedule": "waits to be rescheduled",
    "restarting": "is restarting",
    "queued": "is queued",
    "scheduled": "is scheduled",
}
RUN_STATES = {
    "queued": "Run queued",
    "running": "Run running",
    "success": "Run succeeded",
    "failed": "Run failed",
}
FINISHED = ("success", "failed")
MAX_LINES = 8


@dataclasses.dataclass(frozen=True)
class TaskState:
    task_id: str
    display_name: str
    map_index: int
    try_number: int
    state: str | None


@dataclasses.dataclass(frozen=True)
class RunStatus:
    dag_id: str
    run_id: str
    state: str
    tasks: tuple[TaskState, ...]

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


@dataclasses.dataclass(frozen=True)
class Line:
    text: str
    log_url: str


@dataclasses.dataclass(frozen=True)
class Described:
    """What the page says: ``headline`` ("Run failed"), a line per task, and an optional note."""

    state: str
    headline: str
    lines: list[Line]
    note: str


def lookup(dag_id: str, run_id: str) -> RunStatus | None:
    """The run's state and its task instances' from the metadata DB; None for a run the DB does not
    hold (deleted, never made: a folder written by a test or the CLI) or a DB that cannot be read now
    (logged: the page then says only what the artifacts say)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.utils.session import create_session
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with create_session(scoped=False) as session:
            state = session.scalar(
                select(DagRun.state).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
            )
            if state is None:
                return None
            columns = (TI.task_id, TI.task_display_name, TI.map_index, TI.try_number, TI.state, TI.start_date)
            rows = session.execute(select(*columns).where(TI.dag_id == dag_id, TI.run_id == run_id)).all()
    except (SQLAlchemyError, RuntimeError) as error:  # RuntimeError: no session factory here
        log.warning("the state of run %r of DAG %r cannot be read: %s", run_id, dag_id, error)
        return None
    rows = sorted(rows, key=lambda r: (r.start_date is None, r.start_date or 0, r.task_id, r.map_index))
    tasks = tuple(TaskState(r.task_id, r.task_display_name, r.map_index, r.try_number, r.state) for r in rows)
    return RunStatus(dag_id, run_id, str(state), tasks)


def log_url(dag_id: str, run_id: str, task: TaskState) -> str:
    """The task instance's page in the Airflow UI, which opens on its log (the UI's routes
    ``dags/:dagId/runs/:runId/tasks/:taskId[/mapped/:mapIndex]``, the log's ``?try_number=``)."""
    path = "/".join(quote(part, safe="") for part in ("dags", dag_id, "runs", run_id, "tasks", task.task_id))
    if task.map_index >= 0:
        path += f"/mapped/{task.map_index}"
    query = f"?{urlencode({'try_number': task.try_number})}" if task.try_number > 0 else ""
    return f"{base_path()}/{path}{query}"


def task_line(dag_id: str, run_id: str, task: TaskState) -> Line:
    """``task 'Train model' (train) failed on try 2``, with the task's log."""
    where = task.task_id + (f", map index {task.map_index}" if task.map_index >= 0 else "")
    name = f"task {task.display_name!r} ({where})" if task.display_name != task.task_id else f"task {where!r}"
    doing = UNDER_WAY[task.state or ""]
    if "{n}" not in doing and task.try_number > 0:
        doing += " (try {n})"
    doing = doing.format(n=task.try_number)
    return Line(f"{name} {doing}", log_url(dag_id, run_id, task))


def describe(status: RunStatus) -> Described:
    """The run's state, each failed or unfinished task (at most ``MAX_LINES``), and a note: how many
    tasks did not run after a failure, or how far a run is when no task is under way."""
    listed = sorted(
        (task for task in status.tasks if task.state in UNDER_WAY),
        key=lambda task: list(UNDER_WAY).index(task.state or ""),  # stable: the DB's order within
    )
    lines = [task_line(status.dag_id, status.run_id, task) for task in listed[:MAX_LINES]]
    notes = []
    if len(listed) > MAX_LINES:
        notes.append(f"… and {len(listed) - MAX_LINES} more.")
    upstream_failed = sum(task.state == "upstream_failed" for task in status.tasks)
    if upstream_failed:
        notes.append(f"{upstream_failed} task(s) after it did not run (upstream failed).")
    if not listed and not status.finished:
        done = sum(task.state in ("success", "skipped") for task in status.tasks)
        notes.append(f"No task is under way at this moment ({done} of {len(status.tasks)} done).")
    headline = RUN_STATES.get(status.state, f"Run {status.state}")
    return Described(status.state, headline, lines, " ".join(notes))
