"""Scheduled runs of imdb_sentiment on the real components (scheduler, dag-processor, api-server,
LocalExecutor, PostgreSQL): a DAG unpaused without a data source skips its scheduled run, saying
why, instead of failing; with the workers' IMDB_DATA_PATH it trains on schedule."""

from __future__ import annotations

import pytest
from airflow_cluster import running_cluster

pytestmark = [pytest.mark.slow, pytest.mark.integration]

# The weekly schedule, and the DAG unpaused as soon as it is parsed: the scheduler then creates the
# latest interval's run at once, with the default params, as it does when a user first unpauses it.
SCHEDULED = {"IMDB_SCHEDULE": "@weekly", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False"}


def finished_scheduled_run(cluster) -> dict:
    def finished():
        runs = cluster.api("GET", "/dags/imdb_sentiment/dagRuns", params={"run_type": "scheduled"}).json()
        done = [run for run in runs["dag_runs"] if run["state"] in ("success", "failed")]
        return done[0] if done else None

    return cluster.wait_for("the scheduled run to finish", finished, timeout=600)


def task_states(cluster, run_id: str) -> dict[str, str]:
    instances = cluster.api("GET", f"/dags/imdb_sentiment/dagRuns/{run_id}/taskInstances").json()
    return {ti["task_id"]: ti["state"] for ti in instances["task_instances"]}


def test_without_a_data_source_the_scheduled_run_is_skipped_not_failed(tmp_path):
    with running_cluster(tmp_path / "home", "LocalExecutor", SCHEDULED) as cluster:
        run = finished_scheduled_run(cluster)
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
        run = finished_scheduled_run(cluster)
        states = task_states(cluster, run["dag_run_id"])
        assert run["state"] == "success", states
        assert all(states[stage] == "success" for stage in ("ingest", "train", "evaluate", "gate", "report"))
