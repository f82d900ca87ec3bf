"""Airflow UI plugin: a DAG run's report (``report/report.html`` and its plots) as a tab of the run's page.

- ``fastapi_apps``: ``GET /imdb-reports/{dag_id}/{run_id}/`` serves the run's ``report.html``, and
  ``GET /imdb-reports/{dag_id}/{run_id}/{filename}`` the files it links by relative name (``loss.png``).
  Only files listed in the report's ``manifest.json`` are served, and only with their recorded sha256.
- ``external_views``: a "Report" tab on every DAG run's page that shows the above in an iframe. Airflow
  cannot restrict such a tab to some DAGs, so other DAGs' runs get a "no report" page.

Airflow does not authenticate plugin apps: every request is checked here, the way the REST API does it
(``Authorization: Bearer`` JWT, else the UI's ``_token`` cookie), then authorized by the auth manager to
read that DAG's runs. A refusal (401, 403) is a short HTML page saying what to do: the tab shows it in
its frame, where Airflow's JSON error would read as a broken page. This module is imported by every
Airflow component, so Airflow's API internals and the pipeline are imported inside the functions that
need them.
"""

from __future__ import annotations

import hashlib
import html
import mimetypes
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

URL_PREFIX = "/imdb-reports"
REPORT_STAGE = "report"
REPORT_PAGE = "report.html"
# The page is same-origin with the Airflow UI that frames it; it has inline CSS, no script.
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    ),
}


class ReportNotFound(Exception):
    """No such report, or a file the report does not vouch for: answered 404 with this message."""


async def current_user(request: Request):
    """The caller, by Airflow's own rule (``core_api.security.get_user``): a Bearer token wins, else
    the ``_token`` cookie of the UI session. No or a bad token: 401/403."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    return await get_user(request, None, await bearer_scheme(request))


def authorize_run_read(dag_id: str, request: Request, user: Annotated[Any, Depends(current_user)]) -> None:
    """403 unless the auth manager lets the user read this DAG's runs (sync: it may query the DB)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    requires_access_dag("GET", DagAccessEntity.RUN, param_dag_id=dag_id)(request, user)


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


PAGE_STYLE = "body{font:15px/1.5 system-ui,sans-serif;margin:1.5rem;color:#1a202c}h1{font-size:1.25rem}"


def message_page(title: str, message: str, status_code: int, headers: dict | None = None) -> HTMLResponse:
    page = (
        f'<!doctype html><meta charset="utf-8"><title>{title}</title><style>{PAGE_STYLE}</style>'
        f"<h1>{title}</h1><p>{html.escape(message)}</p>"
    )
    return HTMLResponse(page, status_code=status_code, headers={**HEADERS, **(headers or {})})


@app.exception_handler(ReportNotFound)
async def report_not_found(request: Request, error: ReportNotFound) -> HTMLResponse:
    return message_page("No report", str(error), 404)


@app.exception_handler(HTTPException)
async def refused(request: Request, error: HTTPException) -> Response:
    """401/403 from the login and access checks, as a page a person can act on."""
    if error.status_code == 401:
        message = (
            "Not logged in: log in to Airflow and open the run's Report tab again, or send "
            "'Authorization: Bearer <token>' with a token from POST /auth/token."
        )
        return message_page("Not logged in", message, 401, error.headers)
    if error.status_code == 403:
        dag_id = request.path_params.get("dag_id", "")
        message = (
            f"Your Airflow login may not read the runs of DAG {dag_id}, so not their reports either. "
            f"Ask an Airflow admin for read access to that DAG. (Airflow: {error.detail})"
        )
        return message_page("Not allowed", message, 403, error.headers)
    return await http_exception_handler(request, error)


@app.get("/{dag_id}/{run_id}/", dependencies=[Depends(authorize_run_read)])
def report_page(dag_id: str, run_id: str) -> Response:
    """The report; the trailing slash makes its relative links (``loss.png``) resolve to report_file."""
    return file_response(dag_id, run_id, REPORT_PAGE)


@app.get("/{dag_id}/{run_id}/{filename}", dependencies=[Depends(authorize_run_read)])
def report_file(dag_id: str, run_id: str, filename: str) -> Response:
    return file_response(dag_id, run_id, filename)


def _base_path() -> str:
    """The path of ``[api] base_url`` (empty unless Airflow is served under a sub-path)."""
    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


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
            "href": f"{_base_path()}{URL_PREFIX}/{{DAG_ID}}/{{RUN_ID}}/",
            "destination": "dag_run",
            "url_route": "imdb-report",
        }
    ]
