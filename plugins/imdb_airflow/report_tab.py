"""Airflow UI plugin: a DAG run's report (``report/report.html`` and its plots) as a tab of the run's page.

- ``fastapi_apps``: ``GET /imdb-reports/{dag_id}/{run_id}/`` serves the run's ``report.html``, and
  ``GET /imdb-reports/{dag_id}/{run_id}/{filename}`` the files it links by relative name (``loss.png``).
  Only files listed in the report's ``manifest.json`` are served, and only with their recorded sha256.
- ``external_views``: a "Report" tab on every DAG run's page that shows the above in an iframe. Airflow
  cannot restrict such a tab to some DAGs, so other DAGs' runs get a "no report" page.

Every request is authenticated and authorized by ``web`` (the caller may read that DAG's runs); a
refusal is a short HTML page in the tab's frame. This module is imported by every Airflow component,
so the pipeline is imported inside the functions that need it.

With a bucket as the artifact root (``s3://bucket/prefix``) each request first hands the library the
file system of the connection named by ``IMDB_ARTIFACT_CONN_ID`` (``storage``), then reads the report's
manifest and the file it names under ``attempts/<id>/`` from the bucket: two reads per file, checked as
on disk. A bucket that cannot be read (credentials, endpoint, connection) is a 503 page, not "no report".
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
from typing import TYPE_CHECKING, ClassVar

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from imdb_airflow import storage
from imdb_airflow.web import HEADERS, authorize_run_read, base_path, message_page, refused

if TYPE_CHECKING:
    from imdb_pipeline.store.object_store import ObjectPath

log = logging.getLogger(__name__)

URL_PREFIX = "/imdb-reports"
REPORT_STAGE = "report"
REPORT_PAGE = "report.html"


class ReportNotFound(Exception):
    """No such report, or a file the report does not vouch for: answered 404 with this message."""


class StorageUnavailable(Exception):
    """The artifact bucket cannot be read now (connection, credentials, endpoint): answered 503."""


def open_artifact_store() -> None:
    """What every page request does first: hand the library the file system of the connection named
    by ``IMDB_ARTIFACT_CONN_ID`` (without it, the SDK's environment). A bucket root is also checked
    once per process, so a missing bucket or refused credentials say so in one line."""
    from imdb_pipeline.store import artifacts, object_store

    try:
        storage.use_artifact_connection()
        root = artifacts.artifact_root()  # a local one is only a path: never contacted
        if isinstance(root, object_store.ObjectPath):
            object_store.check_root(root)
    except Exception as error:  # a bucket's: its connection, its package, the bucket itself
        raise unavailable(error, None) from error


def unavailable(error: BaseException, where: ObjectPath | None) -> StorageUnavailable:
    """A bucket's failure as one line (the library's wording), logged with its traceback."""
    from imdb_pipeline.store import object_store

    reason = object_store.storage_error(error, where) if where is not None else error
    log.warning("the artifact store cannot be read: %s", reason, exc_info=error)
    return StorageUnavailable(str(reason)[:400] or type(reason).__name__)


def unavailable_page(error: StorageUnavailable, what: str) -> HTMLResponse:
    return message_page(
        "Artifact store unavailable",
        f"{what} cannot be read from the artifact store now: {error} Try again later; if it lasts, "
        "ask an Airflow admin (the api-server's log has the details).",
        503,
    )


def read_report_file(dag_id: str, run_id: str, filename: str) -> bytes:
    """The bytes of a file of the run's finished report, as its manifest recorded them."""
    from imdb_pipeline.core.errors import PipelineInputError
    from imdb_pipeline.store import artifacts, object_store

    missing = ReportNotFound(
        f"No report for run {run_id!r} of DAG {dag_id!r}. Only finished runs of imdb_sentiment and "
        "imdb_experiments have one (their report task writes it); wait for the run to finish."
    )
    try:
        if artifacts.safe_name(dag_id) != dag_id:  # another DAG id must not map onto this folder
            raise missing
        root = artifacts.artifact_root()
    except (PipelineInputError, OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise missing from error
    if isinstance(root, object_store.ObjectPath):
        return _read_from_bucket(root, dag_id, run_id, filename, missing)
    try:
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
    return _as_recorded(data, entry, filename, run_id)


def _as_recorded(data: bytes, entry: dict, filename: str, run_id: str) -> bytes:
    """``data`` if it has the sha256 the report's manifest recorded for it."""
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise ReportNotFound(
            f"{filename!r} changed since the report of run {run_id!r} was written; rerun its report task."
        )
    return data


def _read_from_bucket(
    root: ObjectPath, dag_id: str, run_id: str, filename: str, missing: ReportNotFound
) -> bytes:
    """The same checks in a bucket: the run's ``report/manifest.json`` lists the file and the attempt
    folder holding it; the object's bytes must have the recorded sha256. Two reads, no local copy:
    an object replaced after the report was written is refused at every request."""
    from imdb_pipeline.core.errors import PipelineInputError
    from imdb_pipeline.store import artifacts

    try:
        folder = artifacts.run_dir(dag_id, run_id, root=root) / REPORT_STAGE
    except PipelineInputError as error:  # a name no object can have
        raise missing from error
    if not folder.is_relative_to(root):
        raise missing
    for _ in range(2):  # a rerun may replace the report between the two reads: then read the new one
        entry, attempt = _listed(folder, filename, dag_id, run_id, missing)
        try:
            data = folder.store.read(folder / attempt / filename)
        except Exception as error:  # the bucket cannot be read (gone, credentials, endpoint)
            raise unavailable(error, folder) from error
        if data is not None:
            break
    else:
        raise missing
    return _as_recorded(data, entry, filename, run_id)


def _listed(
    folder: ObjectPath, filename: str, dag_id: str, run_id: str, missing: ReportNotFound
) -> tuple[dict, str]:
    """The manifest's entry for ``filename`` and the attempt folder (``attempts/<id>``) holding it."""
    from imdb_pipeline.core.errors import MissingUpstreamError
    from imdb_pipeline.store import artifacts, bucket_staging

    try:
        manifest = artifacts.read_manifest(folder)
    except (FileNotFoundError, MissingUpstreamError) as error:  # no finished report, or a damaged one
        raise missing from error
    except Exception as error:  # the bucket cannot be read: say so, not "no report"
        raise unavailable(error, folder) from error
    entry = manifest["files"].get(filename)
    if not isinstance(entry, dict) or not _plain(filename):
        raise ReportNotFound(f"{filename!r} is not a file of the report of run {run_id!r} of DAG {dag_id!r}.")
    attempt = manifest.get("folder")
    prefix, _, name = attempt.partition("/") if isinstance(attempt, str) else ("", "", "")
    if prefix != bucket_staging.ATTEMPTS or not _plain(name):
        raise missing  # not what a bucket stage writes
    return entry, attempt


def _plain(name: str) -> bool:
    """One name under a prefix: no slash, not empty, not ``.`` or ``..``."""
    return bool(name) and "/" not in name and name not in (".", "..")


def file_response(dag_id: str, run_id: str, filename: str) -> Response:
    open_artifact_store()
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


@app.exception_handler(StorageUnavailable)
async def storage_unavailable(request: Request, error: StorageUnavailable) -> HTMLResponse:
    return unavailable_page(error, "The report")


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
