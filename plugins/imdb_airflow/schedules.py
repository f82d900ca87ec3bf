"""The project's time schedule: a cron timetable that never starts a run for a time already past.

Airflow's ``CronTriggerTimetable`` with ``catchup=False`` still starts the most recent past cron time
at once whenever a DAG is unpaused (Airflow 3.3: its ``run_immediately`` is not consulted once the DAG
has a ``start_date`` or a previous run). For this project such a run is one nobody asked for: a
retraining the user's own run waits behind, or a scoring run racing the flag the user just dropped.
``CronWithoutCatchUp`` starts the cron time after the last run's however late the scheduler gets to
it, but when a whole time was missed (the DAG paused, the scheduler down) or the DAG never ran, it
waits for the next time to come.

Registered by ``imdb_plugins.ImdbSchedulesPlugin``: the scheduler, the dag-processor and the UI find
it by its import path, as Airflow does for every custom timetable.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.plugins_manager import AirflowPlugin
from airflow.timetables import trigger
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction
from airflow.timetables.trigger import CronTriggerTimetable


class CronWithoutCatchUp(CronTriggerTimetable):
    """Runs at each cron time from now on; a time missed while paused (or down) is skipped."""

    def __init__(self, cron: str, *, timezone: Any = "UTC", **kwargs: Any) -> None:
        super().__init__(cron, timezone=timezone, **kwargs)
        self.description = f"{self.description}, missed times skipped"

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        if restriction.catchup:  # asked for explicitly: Airflow's own back-filling
            return super().next_dagrun_info(
                last_automated_data_interval=last_automated_data_interval, restriction=restriction
            )
        now = pendulum.instance(trigger.utcnow())  # the clock the base class reads
        last = last_automated_data_interval
        start = self._get_next(last.end) if last is not None else None
        if start is None or start < self._align_to_prev(now):  # never ran, or a time was missed
            start = self._align_to_next(now)
        if restriction.earliest is not None:
            start = max(start, self._align_to_next(restriction.earliest))
        if restriction.latest is not None and restriction.latest < start:
            return None
        return DagRunInfo.interval(start - self._interval, start)


class ImdbSchedulesPlugin(AirflowPlugin):
    name = "imdb_schedules"
    timetables = [CronWithoutCatchUp]  # noqa: RUF012 (AirflowPlugin's own attribute)
