"""The Report tab of an ``imdb_score`` run: its scoring summary (``score/summary.json``, read through
the stage's manifest, sha256 checked), as the run's score task logged it: the headline
(``scoring_summary.describe``), the champion version, and a row per batch (file, status, rows,
positive rate, drift verdict and flags, the reason of a batch not scored) linking a scored batch to
its ``stats.json`` on the Models page. No summary yet: where the run is, from Airflow.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi.responses import HTMLResponse

from imdb_airflow import run_status, tab_pages
from imdb_airflow.run_files import StageFileNotFound, StageNotFinished, read_stage_file
from imdb_airflow.web import HEADERS, base_path

SCORE_DAG = "imdb_score"
SCORE_STAGE = "score"  # the stage folder and the task that writes it
SUMMARY_FILE = "summary.json"  # what inbox_scoring.score_for_run writes into it
WHAT = "scoring summary"
# The Models page's route for one batch's statistics (models_page.batch_statistics; not imported:
# models_page imports the Report tab).
BATCH_STATS_ROUTE = "/imdb-models/batches"
# Batches whose statistics this champion version has written (in this run or an earlier one).
WITH_STATS = ("scored", "done")


def page(dag_id: str, run_id: str, status: run_status.RunStatus | None) -> HTMLResponse:
    """The run's scoring summary (200); none yet: where the run is (404). A run that has not
    succeeded (still running, or a later task failed) also says where it is, above the summary."""
    try:
        summary = json.loads(read_stage_file(dag_id, run_id, SCORE_STAGE, SUMMARY_FILE, WHAT))
    except StageNotFinished as error:
        finished = status is not None and status.finished
        message = f"{error} Its {SCORE_STAGE} task writes one when it finishes" + (
            "." if finished else "; wait for the run to finish."
        )
        described = run_status.describe(status) if status else None
        body = tab_pages.missing_page("No scoring summary", message, described)
        return HTMLResponse(body, 404, headers=HEADERS)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StageFileNotFound(f"The {WHAT} of run {run_id!r} is not JSON: rerun its score task.") from error
    headline, version, batches = _shown(summary, run_id)
    described = run_status.describe(status) if status and status.state != "success" else None
    body = tab_pages.scoring_page("Scoring summary", headline, version, batches, described)
    return HTMLResponse(body, headers=HEADERS)


def _shown(summary: Any, run_id: str) -> tuple[str, str | None, list[dict[str, Any]]]:
    """(headline, champion version, batch rows) of a summary; one of another shape is a 404."""
    from imdb_pipeline.serving import scoring_summary

    try:
        headline = scoring_summary.describe(summary)[0][1]
        version = summary["model_version"]
        return headline, version, [batch_row(batch, version) for batch in summary["batches"]]
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        raise StageFileNotFound(
            f"The {WHAT} of run {run_id!r} is not one this page can show ({type(error).__name__}: "
            f"{error}); rerun its score task."
        ) from error


def batch_row(batch: dict[str, Any], version: str | None) -> dict[str, Any]:
    """A batch as the table shows it (values as text; the template escapes them)."""
    status = str(batch["status"])
    scored = status == "scored"
    drifted = bool(batch.get("drifted"))
    if drifted:
        drift = "DRIFTED: " + ", ".join(map(str, batch.get("drift_flags") or ()))
    else:
        drift = "none" if scored else "–"
    rate = batch.get("positive_rate")
    key = batch.get("key")
    return {
        "file": str(batch["file"]),
        "status": status,
        "rows": str(batch["rows"]) if scored else "–",
        "positive_rate": f"{rate:.3f}" if scored and isinstance(rate, int | float) else "–",
        "drifted": drifted,
        "drift": drift,
        "reason": "" if scored else str(batch.get("reason") or ""),
        "stats_url": stats_url(version, key) if status in WITH_STATS and version and key else "",
    }


def stats_url(version: str, key: str) -> str:
    """The Models page's URL of a batch's ``stats.json`` (each name one path segment, %-escaped)."""
    return f"{base_path()}{BATCH_STATS_ROUTE}/{quote(version, safe='')}/{quote(str(key), safe='')}"
