"""Airflow UI plugin: what a DAG run has to show, as a "Report" tab of the run's page.

- ``fastapi_apps``: ``GET /imdb-reports/{dag_id}/{run_id}/`` serves the run's ``report/report.html``,
  and ``GET /imdb-reports/{dag_id}/{run_id}/{filename}`` the files it links by relative name
  (``loss.png``): only files listed in the report's ``manifest.json``, only with their recorded sha256
  (``run_files``, on disk or in a bucket). An ``imdb_score`` run's page is its scoring summary instead
  (``scoring_report``). A run without either says where it is, from Airflow's metadata DB: which task
  failed or is under way, linking to its log (``run_status``); so does a banner over the report of a
  run that has not succeeded (its report task finished, ``promote`` failed or still runs).
- ``external_views``: a "Report" tab on every DAG run's page that shows the above in an iframe. Airflow
  cannot restrict such a tab to some DAGs, so other DAGs' runs get a "no report" page.

Every request is authenticated and authorized by ``web`` (the caller may read that DAG's runs); a
refusal is a short HTML page in the tab's frame. A bucket that cannot be read (credentials, endpoint,
connection) is a 503 page, not "no report". This module is imported by every Airflow component, so
the pipeline and Airflow's models are imported inside the functions that need them.
"""

from __future__ import annotations

import mimetypes
from typing import ClassVar

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from imdb_airflow import run_status, scoring_report, tab_pages
from imdb_airflow.run_files import (
    StageFileNotFound,
    StageNotFinished,
    StorageUnavailable,
    open_artifact_store,
    read_stage_file,
    unavailable,
    unavailable_page,
)
from imdb_airflow.web import HEADERS, authorize_run_read, base_path, message_page, refused

# The store's failures, as the Models page takes them from here.
__all__ = ["StorageUnavailable", "open_artifact_store", "unavailable", "unavailable_page"]

URL_PREFIX = "/imdb-reports"
REPORT_STAGE = "report"
REPORT_PAGE = "report.html"
WHAT = "report"
WHO_HAS_ONE = (
    "Only finished runs of imdb_sentiment and imdb_experiments have one (their report task writes it)"
)


def read_report_file(dag_id: str, run_id: str, filename: str) -> bytes:
    """The bytes of a file of the run's finished report, as its manifest recorded them."""
    return read_stage_file(dag_id, run_id, REPORT_STAGE, filename, WHAT)


def no_report(error: StageNotFinished, status: run_status.RunStatus | None) -> str:
    """Why there is no report: ``No report for run 'r' of DAG 'd'. Only finished runs …``."""
    wait = "." if status is not None and status.finished else "; wait for the run to finish."
    return f"{error} {WHO_HAS_ONE}{wait}"


def report_response(dag_id: str, run_id: str) -> Response:
    """The run's report, with a banner when the run has not succeeded; else where the run is (404)."""
    open_artifact_store()
    status = run_status.lookup(dag_id, run_id)
    if dag_id == scoring_report.SCORE_DAG:
        return scoring_report.page(dag_id, run_id, status)
    try:
        data = read_report_file(dag_id, run_id, REPORT_PAGE)
    except StageNotFinished as error:
        described = run_status.describe(status) if status else None
        page = tab_pages.missing_page("No report", no_report(error, status), described)
        return HTMLResponse(page, 404, headers=HEADERS)
    if status is not None and status.state != "success":
        data = tab_pages.with_banner(data, run_status.describe(status))
    return Response(data, media_type="text/html; charset=utf-8", headers=HEADERS)


def file_response(dag_id: str, run_id: str, filename: str) -> Response:
    open_artifact_store()
    try:
        data = read_report_file(dag_id, run_id, filename)
    except StageNotFinished as error:
        raise StageFileNotFound(no_report(error, None)) from error
    media_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if media_type.startswith("text/") or media_type == "application/json":
        media_type += "; charset=utf-8"
    return Response(data, media_type=media_type, headers=HEADERS)


app = FastAPI(title="IMDB report viewer", docs_url=None, redoc_url=None, openapi_url=None)
app.exception_handler(HTTPException)(refused)


@app.exception_handler(StageFileNotFound)
async def report_not_found(request: Request, error: StageFileNotFound) -> HTMLResponse:
    return message_page("No report", str(error), 404)


@app.exception_handler(StorageUnavailable)
async def storage_unavailable(request: Request, error: StorageUnavailable) -> HTMLResponse:
    return unavailable_page(error, "The report")


@app.get("/{dag_id}/{run_id}/", dependencies=[Depends(authorize_run_read)])
def report_page(dag_id: str, run_id: str) -> Response:
    """The report; the trailing slash makes its relative links (``loss.png``) resolve to report_file."""
    return report_response(dag_id, run_id)


@app.get("/{dag_id}/{run_id}/{filename}", dependencies=[Depends(authorize_run_read)])
def report_file(dag_id: str, run_id: str, filename: str) -> Response:
    return file_response(dag_id, run_id, filename)


class ImdbReportViewerPlugin(AirflowPlugin):
    name = "imdb_report_viewer"
    fastapi_apps: ClassVar[list[dict]] = [
        {"app": app, "url_prefix": URL_PREFIX, "name": "IMDB report viewer"}
    ]
    # The UI replaces {DAG_ID} and {RUN_ID} (URL-encoded) and shows the page in an iframe on the
    # tab "Report" of each DAG run, at /dags/<dag>/runs/<run>/plugin/imdb-report.
    external_views: ClassVar[list[dict]] = [
        {
            "name": "Report",
            "href": f"{base_path()}{URL_PREFIX}/{{DAG_ID}}/{{RUN_ID}}/",
            "destination": "dag_run",
            "url_route": "imdb-report",
        }
    ]
