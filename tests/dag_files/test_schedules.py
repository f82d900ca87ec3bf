"""When the DAGs' time schedules start runs (``imdb_airflow.schedules``) and the inbox watcher's trigger
(``imdb_airflow.triggers.InboxFlagTrigger``): no run for a time already past, an inbox that exists."""

import asyncio

import pendulum
import pytest
from stage_runs import PROJECT

from imdb_airflow.schedules import CronWithoutCatchUp
from imdb_airflow.triggers import InboxFlagTrigger

START = pendulum.datetime(2026, 1, 1, tz="UTC")


def next_run(timetable, now, last_end=None, catchup=False):
    """When the scheduler would start the next run, asked at ``now`` (the clock both classes read)."""
    from airflow.timetables import trigger
    from airflow.timetables.base import DataInterval, TimeRestriction

    last = DataInterval(last_end, last_end) if last_end else None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trigger, "utcnow", lambda: now)
        info = timetable.next_dagrun_info(
            last_automated_data_interval=last,
            restriction=TimeRestriction(earliest=START, latest=None, catchup=catchup),
        )
    return info.run_after


def test_unpausing_a_new_dag_waits_for_the_next_time_where_airflows_own_starts_a_past_one():
    from airflow.timetables.trigger import CronTriggerTimetable

    now = pendulum.datetime(2026, 12, 3, 15, 40, tz="UTC")  # a Thursday
    ours = CronWithoutCatchUp("@weekly")
    assert next_run(ours, now) == pendulum.datetime(2026, 12, 6, tz="UTC")  # the coming Sunday
    # What this class exists for: Airflow's timetable, same cron, starts last Sunday's run at once.
    theirs = CronTriggerTimetable("@weekly", timezone="UTC")
    assert next_run(theirs, now) == pendulum.datetime(2026, 11, 29, tz="UTC")


def test_after_a_pause_the_missed_times_are_skipped():
    every_30 = CronWithoutCatchUp("*/30 * * * *")
    now = pendulum.datetime(2026, 12, 3, 15, 40, tz="UTC")
    paused_since = pendulum.datetime(2026, 12, 1, 9, 0, tz="UTC")
    assert next_run(every_30, now, last_end=paused_since) == pendulum.datetime(2026, 12, 3, 16, 0, tz="UTC")


def test_the_time_after_the_last_run_is_started_however_late_the_scheduler_gets_to_it():
    every_30 = CronWithoutCatchUp("*/30 * * * *")
    last = pendulum.datetime(2026, 12, 3, 15, 0, tz="UTC")
    due = pendulum.datetime(2026, 12, 3, 15, 30, tz="UTC")
    assert next_run(every_30, last + pendulum.duration(seconds=2), last_end=last) == due  # steady running
    assert next_run(every_30, due + pendulum.duration(minutes=29), last_end=last) == due  # a late scheduler
    # A whole time missed (a scheduler down for an hour): from the next one on.
    assert next_run(every_30, due + pendulum.duration(minutes=31), last_end=last) == due.add(minutes=60)


def test_catchup_asked_for_is_airflows_own():
    every_30 = CronWithoutCatchUp("*/30 * * * *")
    now = pendulum.datetime(2026, 12, 3, 15, 40, tz="UTC")
    assert next_run(every_30, now, catchup=True) == START  # back-filled from the start date


def test_both_dags_use_it_and_the_scheduler_gets_it_back_from_serialization():
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    bag = DagBag(dag_folder=str(PROJECT / "dags"))
    for dag_id in ("imdb_sentiment", "imdb_score"):
        serialized = DagSerialization.from_dict(DagSerialization.to_dict(bag.dags[dag_id]))
        timetable = getattr(
            serialized.timetable, "timetable", serialized.timetable
        )  # imdb_score: assets or time
        assert isinstance(timetable, CronWithoutCatchUp), (dag_id, type(timetable))
        assert "missed times skipped" in serialized.timetable.description


@pytest.mark.parametrize("depth", ["inbox", "artifacts/inbox"])
def test_the_flag_watcher_creates_the_inbox_then_takes_the_flag(tmp_path, depth):
    inbox = tmp_path / depth
    trigger = InboxFlagTrigger(directory=str(inbox), filename="READY", poke_interval=0.05)

    async def first_event():
        events = trigger.run()
        waiting = asyncio.ensure_future(anext(events))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if inbox.is_dir():
                break
        assert inbox.is_dir() and not waiting.done()  # created at once; no flag, no event
        (inbox / "READY").touch()
        return await asyncio.wait_for(waiting, 10)

    event = asyncio.run(first_event())
    assert event.payload == {"filepath": str(inbox / "READY")} and not (inbox / "READY").exists()
    path, kwargs = trigger.serialize()
    assert path == "imdb_airflow.triggers.InboxFlagTrigger" and kwargs["directory"] == str(inbox)
