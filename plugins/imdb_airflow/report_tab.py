"""Airflow UI plugin: a DAG run's report (``report/report.html`` and its plots) as a tab of the run's page.

- ``fastapi_apps``: ``GET /imdb-reports/{dag_id}/{run_id}/`` serves the run's ``report.html``, and
  ``GET /imdb-reports/{dag_id}/{run_id}/{filename}`` the files it links by relative name (``loss.png``).
  Only files listed in the report's ``manifest.json`` are served, and only with their recorded sha256.
- ``external_views``: a "Report" tab on every DAG run's page that shows the above in an iframe. Airflow
  cannot restrict such a tab to some DAGs, so other DAGs' runs get a "no report" page.

Every request is authenticated and authorized by ``web`` (the caller may read that DAG's runs); a
refusal is a short HTML page in the tab's frame. This module is imported by every Airflow component,
so the pipeline is imported inside the functions that need it.
"""

from __future__ import annotations

import hashlib
import mimetypes
from typing import ClassVar

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from imdb_airflow.web import HEADERS, authorize_run_read, base_path, message_page, refused

URL_PREFIX = "/imdb-reports"
REPORT_STAGE = "report"
REPORT_PAGE = "report.html"


class ReportNotFound(Exception):
    """No such report, or a file the report does not vouch for: answered 404 with this message."""


def read_report_file(dag_id: str, run_id: str, filename: str) -> bytes:
    """The bytes of a file of the run's finished report, as its manifest recorded them."""
    from imdb_pipeline.core.errors import PipelineInputError
    from imdb_pipeline.store import artifacts

    missing = ReportNotFound(
        f"No report for run {run_id!r} of DAG {dag_id!r}. Only finished runs of imdb_sentiment and "
        "imdb_experiments have one (their report task writes it); wait for the run to finish."
    )
    try:
        if artifacts.safe_name(dag_id) != dag_id:  # another DAG id must not map onto this folder
            raise missing
        root = artifacts.artifact_root()
        folder = (artifacts.run_dir(dag_id, run_id, root=root) / REPORT_STAGE).resolve()
        if not folder.is_relative_to(root):
            raise missing
        entry = artifacts.read_manifest(folder)["files"].get(filename)
    except (PipelineInputError, OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise missing from error
    if entry is None:
        raise ReportNotFound(f"{filename!r} is not a file of the report of run {run_id!r} of DAG {dag_id!r}.")
    path = folder / filename
    try:
        if path.is_symlink() or path.resolve().parent != folder:
            raise ReportNotFound(
                f"{filename!r} is not a file of the report of run {run_id!r} of DAG {dag_id!r}."
            )
        data = path.read_bytes()
    except OSError as error:
        raise missing from error
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise ReportNotFound(
            f"{filename!r} changed since the report of run {run_id!r} was written; rerun its report task."
        )
    return data


def file_response(dag_id: str, run_id: str, filename: str) -> Response:
    data = read_report_file(dag_id, run_id, filename)
    media_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if media_type.startswith("text/") or media_type == "application/json":
        media_type += "; charset=utf-8"
    return Response(data, media_type=media_type, headers=HEADERS)


app = FastAPI(title="IMDB report viewer", docs_url=None, redoc_url=None, openapi_url=None)
app.exception_handler(HTTPException)(refused)


@app.exception_handler(ReportNotFound)
async def report_not_found(request: Request, error: ReportNotFound) -> HTMLResponse:
    return message_page("No report", str(error), 404)


@app.get("/{dag_id}/{run_id}/", dependencies=[Depends(authorize_run_read)])
def report_page(dag_id: str, run_id: str) -> Response:
    """The report; the trailing slash makes its relative links (``loss.png``) resolve to report_file."""
    return file_response(dag_id, run_id, REPORT_PAGE)


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
