"""
### IMDB batch scoring — new reviews scored by the champion as they arrive

Runs when a new champion is promoted (the `imdb_champion` asset event of `imdb_sentiment`'s
`promote`), when a producer announces reviews (an `imdb_reviews_inbox` asset event, posted with
`POST /api/v2/assets/events`, or a `READY` flag file dropped into the inbox, which the triggerer's
`AssetWatcher` sees and deletes), and on a modest time schedule for files dropped without either.

`score` → `flag_drift`

Each `.txt` (one review a line) or `.jsonl` (`id`, `text`) file in the inbox (`IMDB_INBOX`, default
`$IMDB_ARTIFACT_ROOT/inbox`) is scored **once per champion version** into
`$IMDB_ARTIFACT_ROOT/scored/<version>/<file>__<sha256>/` (`scores.jsonl`, `stats.json`, manifest).
`rescore` says what a new champion scores again besides files never scored: the `latest` file,
`all` of them, or `none`. Each batch gets statistics and a drift verdict against the champion's
training data (thresholds below); a drifted batch is scored and flagged (`flag_drift`, the
`imdb_review_drift` asset). A file that cannot be scored is moved to
`$IMDB_ARTIFACT_ROOT/quarantine/` with its reason; the other files go on. See docs/scoring.md.

The DAG starts **unpaused**: without a champion or new files a run scores nothing and says so
("nothing new: …"), and the `READY` watcher (which creates the inbox folder) runs only while the DAG
is unpaused. Unpausing it starts no run; times missed while paused are skipped.
"""

from __future__ import annotations

import logging
import os

import pendulum
from airflow.sdk import Asset, AssetOrTimeSchedule, AssetWatcher, dag, task

from imdb_airflow.dag_support import (
    CHAMPION,
    DEFAULT_ARGS,
    Outputs,
    current_run,
    inbox_flag_trigger,
    params_from_specs,
    plain_refusals,
)
from imdb_airflow.schedules import CronWithoutCatchUp
from imdb_pipeline.serving import inbox_scoring, scoring_summary
from imdb_pipeline.serving.inbox import inbox_dir

log = logging.getLogger(__name__)

# Files dropped without an event or a flag wait at most this long (IMDB_SCORE_SCHEDULE: a cron
# expression, or "none" for events only).
SCORE_SCHEDULE = os.environ.get("IMDB_SCORE_SCHEDULE", "*/30 * * * *")
FLAG_FILE = "READY"

INBOX = Asset(
    "imdb_reviews_inbox",
    watchers=[
        AssetWatcher(
            name="imdb_inbox_ready_flag",
            trigger=inbox_flag_trigger(inbox_dir(), FLAG_FILE, poke_interval=30.0),
        )
    ],
)
SCORED = Asset("imdb_scored_reviews")  # an event per run that scored something; counts in its extra
DRIFT = Asset("imdb_review_drift")  # an event per run with drifted batches: subscribe to be alerted


def _schedule():
    assets = CHAMPION | INBOX
    if SCORE_SCHEDULE.lower() == "none":
        return assets
    return AssetOrTimeSchedule(timetable=CronWithoutCatchUp(SCORE_SCHEDULE), assets=assets)


@dag(
    dag_id="imdb_score",
    dag_display_name="IMDB batch scoring (champion × inbox)",
    description="Score new reviews with the champion: data checks, drift flags, quarantine; once per file.",
    doc_md=__doc__,
    schedule=_schedule(),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # Unpaused from the start, unlike Airflow's default: it is safe (with no champion or no new file a
    # run scores nothing and says so), and a paused DAG's flag watcher does not run, so a READY flag
    # dropped as docs/scoring.md says would wait for nothing.
    is_paused_upon_creation=False,
    max_active_runs=2,  # safe: each (file, champion) is claimed by one run
    tags=["ml", "imdb", "scoring"],
    params=params_from_specs(inbox_scoring.SCORE_PARAM_SPECS),
    default_args=DEFAULT_ARGS,
)
def imdb_score():
    @task(
        task_display_name="Score the inbox",
        inlets=[CHAMPION, INBOX],
        outlets=[SCORED],
        execution_timeout=pendulum.duration(hours=2),
    )
    def score() -> Outputs:
        """Score every inbox file this champion has not scored yet (and what `rescore` asks)."""
        with plain_refusals():  # an unwritable artifact root: one line, no retry
            context, run_path = current_run()
            outputs, summary = inbox_scoring.score_for_run(dict(context["params"]), run_path)
        described = scoring_summary.describe(summary)
        for level, line in described:
            log.log(level, line)
        headline = described[0][1]
        statuses = [batch["status"] for batch in summary["batches"]]
        context["outlet_events"][SCORED].extra = {
            "model_version": summary["model_version"],
            "scored": statuses.count("scored"),
            "quarantined": statuses.count("quarantined"),
            "drifted": sum(bool(batch.get("drifted")) for batch in summary["batches"]),
            "headline": headline,
        }
        # The inbox's watermark, kept on the asset (Airflow's asset state store, not a Variable).
        store = context.get("asset_state_store")
        if store is not None:
            store[INBOX].set("last_scoring", {"run_id": context["run_id"], "headline": headline})
        return outputs

    @task(task_display_name="Flag drift", outlets=[DRIFT])
    def flag_drift(score: Outputs | None) -> None:
        """Succeeds with an `imdb_review_drift` event when a batch drifted; *skipped* when none did."""
        from airflow.sdk.exceptions import AirflowSkipException

        context, run_path = current_run()
        summary = inbox_scoring.run_summary(score, run_path, context["dag"].dag_id)
        drifted = [batch for batch in summary["batches"] if batch.get("drifted")]
        if not drifted:
            raise AirflowSkipException("no batch drifted")
        for batch in drifted:
            log.warning("DRIFT %s: %s (%s)", batch["file"], ", ".join(batch["drift_flags"]), batch["folder"])
        context["outlet_events"][DRIFT].extra = {
            "model_version": summary["model_version"],
            "batches": [
                {"file": b["file"], "flags": b["drift_flags"], "folder": b["folder"]} for b in drifted
            ],
        }

    flag_drift(score())


imdb_score()
