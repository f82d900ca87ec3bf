"""Scheduled runs of imdb_sentiment on the real components (scheduler, dag-processor, api-server,
LocalExecutor, PostgreSQL): unpausing starts no run for a time already past; a scheduled run without
a data source is skipped, saying why, instead of failing; with the workers' IMDB_DATA_PATH it trains
on schedule."""

from __future__ import annotations

import pendulum
import pytest
from airflow_cluster import running_cluster

pytestmark = [pytest.mark.slow, pytest.mark.integration]

# Every minute, so that the first scheduled run comes within a minute; the DAG paused at creation, as
# a new user finds it. (Airflow's own CronTriggerTimetable would start the minute just past at once.)
SCHEDULED = {"IMDB_SCHEDULE": "* * * * *", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"}


def unpause(cluster, dag_id: str = "imdb_sentiment") -> pendulum.DateTime:
    """Unpause as the UI's toggle does (PATCH is_paused); returns when."""
    assert cluster.api("GET", f"/dags/{dag_id}").json()["is_paused"]
    when = pendulum.now("UTC")
    assert cluster.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False}).ok
    return when


def finished_scheduled_run(cluster) -> dict:
    def finished():
        runs = cluster.api("GET", "/dags/imdb_sentiment/dagRuns", params={"run_type": "scheduled"}).json()
        done = [run for run in runs["dag_runs"] if run["state"] in ("success", "failed")]
        return done[0] if done else None

    return cluster.wait_for("the scheduled run to finish", finished, timeout=600)


def task_states(cluster, run_id: str) -> dict[str, str]:
    instances = cluster.api("GET", f"/dags/imdb_sentiment/dagRuns/{run_id}/taskInstances").json()
    return {ti["task_id"]: ti["state"] for ti in instances["task_instances"]}


def test_unpausing_starts_no_past_run_and_without_data_the_scheduled_run_is_skipped(tmp_path):
    with running_cluster(tmp_path / "home", "LocalExecutor", SCHEDULED) as cluster:
        unpaused_at = unpause(cluster)
        run = finished_scheduled_run(cluster)
        runs = cluster.api("GET", "/dags/imdb_sentiment/dagRuns").json()["dag_runs"]
        assert all(pendulum.parse(r["logical_date"]) > unpaused_at for r in runs), (unpaused_at, runs)
        assert run["state"] == "success"
        states = task_states(cluster, run["dag_run_id"])
        assert states["ingest"] == "skipped" and set(states.values()) == {"skipped"}, states
        log = cluster.api(
            "GET", f"/dags/imdb_sentiment/dagRuns/{run['dag_run_id']}/taskInstances/ingest/logs/1"
        ).text
        assert "scheduled run skipped: no data source is configured" in log and "IMDB_DATA_PATH" in log


@pytest.mark.real_data
def test_with_the_workers_data_path_it_trains_on_schedule(tmp_path, real_data):
    # The default params (the book's: 10,000 words, 10,000 validation reviews) need the real reviews.
    env = {**SCHEDULED, "IMDB_DATA_PATH": str(real_data)}
    with running_cluster(tmp_path / "home", "LocalExecutor", env) as cluster:
        unpause(cluster)
        run = finished_scheduled_run(cluster)
        states = task_states(cluster, run["dag_run_id"])
        assert run["state"] == "success", states
        assert all(states[stage] == "success" for stage in ("ingest", "train", "evaluate", "gate", "report"))
