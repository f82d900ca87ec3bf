"""A finished stage's file of a DAG run, as the plugin's pages read it: only a file the stage's
``manifest.json`` lists, only with the sha256 it recorded, on disk or in a bucket; and the store's
failures (a bucket that cannot be read is ``StorageUnavailable``: a 503 page, not "not found").

With a bucket as the artifact root (``s3://bucket/prefix``) a page first hands the library the file
system of the connection named by ``IMDB_ARTIFACT_CONN_ID`` (``storage``), then reads the stage's
manifest and the file it names under ``attempts/<id>/``: two reads per file, checked as on disk,
nothing kept on the api-server. The pipeline is imported inside the functions (every Airflow
component imports the plugin).
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from fastapi.responses import HTMLResponse

from imdb_airflow import storage
from imdb_airflow.web import message_page

if TYPE_CHECKING:
    from imdb_pipeline.store.object_store import ObjectPath

log = logging.getLogger(__name__)


class StageFileNotFound(Exception):
    """Not a file the finished stage vouches for (unlisted, or changed since): a 404 with this message."""


class StageNotFinished(StageFileNotFound):
    """The run has no finished stage of that name (no folder, no manifest, or a damaged one)."""


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


def read_stage_file(dag_id: str, run_id: str, stage: str, filename: str, what: str) -> bytes:
    """The bytes of ``filename`` of the run's finished ``stage``, as its manifest recorded them.
    ``what`` names the stage's product in the messages ("report", "scoring summary")."""
    from imdb_pipeline.core.errors import PipelineInputError
    from imdb_pipeline.store import artifacts, object_store

    file = _File(dag_id, run_id, stage, filename, what)
    try:
        if artifacts.safe_name(dag_id) != dag_id:  # another DAG id must not map onto this folder
            raise file.missing()
        root = artifacts.artifact_root()
    except (PipelineInputError, OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise file.missing() from error
    if isinstance(root, object_store.ObjectPath):
        return _read_from_bucket(root, file)
    try:
        folder = (artifacts.run_dir(dag_id, run_id, root=root) / stage).resolve()
        if not folder.is_relative_to(root):
            raise file.missing()
        entry = artifacts.read_manifest(folder)["files"].get(filename)
    except (PipelineInputError, OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise file.missing() from error
    if entry is None:
        raise file.unlisted()
    path = folder / filename
    try:
        if path.is_symlink() or path.resolve().parent != folder:
            raise file.unlisted()
        data = path.read_bytes()
    except OSError as error:
        raise file.missing() from error
    return file.as_recorded(data, entry)


class _File:
    """The file asked for, and what a page says when it cannot be served."""

    def __init__(self, dag_id: str, run_id: str, stage: str, filename: str, what: str):
        self.dag_id, self.run_id, self.stage, self.filename, self.what = dag_id, run_id, stage, filename, what

    def missing(self) -> StageNotFinished:
        return StageNotFinished(f"No {self.what} for run {self.run_id!r} of DAG {self.dag_id!r}.")

    def unlisted(self) -> StageFileNotFound:
        return StageFileNotFound(
            f"{self.filename!r} is not a file of the {self.what} of run {self.run_id!r} "
            f"of DAG {self.dag_id!r}."
        )

    def as_recorded(self, data: bytes, entry: dict) -> bytes:
        """``data`` if it has the sha256 the stage's manifest recorded for it."""
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise StageFileNotFound(
                f"{self.filename!r} changed since the {self.what} of run {self.run_id!r} was written; "
                f"rerun its {self.stage} task."
            )
        return data


def _read_from_bucket(root: ObjectPath, file: _File) -> bytes:
    """The same checks in a bucket: the run's ``<stage>/manifest.json`` lists the file and the attempt
    folder holding it; the object's bytes must have the recorded sha256. Two reads, no local copy:
    an object replaced after the stage was written is refused at every request."""
    from imdb_pipeline.core.errors import PipelineInputError
    from imdb_pipeline.store import artifacts

    try:
        folder = artifacts.run_dir(file.dag_id, file.run_id, root=root) / file.stage
    except PipelineInputError as error:  # a name no object can have
        raise file.missing() from error
    if not folder.is_relative_to(root):
        raise file.missing()
    for _ in range(2):  # a rerun may replace the stage between the two reads: then read the new one
        entry, attempt = _listed(folder, file)
        try:
            data = folder.store.read(folder / attempt / file.filename)
        except Exception as error:  # the bucket cannot be read (gone, credentials, endpoint)
            raise unavailable(error, folder) from error
        if data is not None:
            break
    else:
        raise file.missing()
    return file.as_recorded(data, entry)


def _listed(folder: ObjectPath, file: _File) -> tuple[dict, str]:
    """The manifest's entry for the file and the attempt folder (``attempts/<id>``) holding it."""
    from imdb_pipeline.core.errors import MissingUpstreamError
    from imdb_pipeline.store import artifacts, bucket_staging

    try:
        manifest = artifacts.read_manifest(folder)
    except (FileNotFoundError, MissingUpstreamError) as error:  # no finished stage, or a damaged one
        raise file.missing() from error
    except Exception as error:  # the bucket cannot be read: say so, not "not found"
        raise unavailable(error, folder) from error
    entry = manifest["files"].get(file.filename)
    if not isinstance(entry, dict) or not _plain(file.filename):
        raise file.unlisted()
    attempt = manifest.get("folder")
    prefix, _, name = attempt.partition("/") if isinstance(attempt, str) else ("", "", "")
    if prefix != bucket_staging.ATTEMPTS or not _plain(name):
        raise file.missing()  # not what a bucket stage writes
    return entry, attempt


def _plain(name: str) -> bool:
    """One name under a prefix: no slash, not empty, not ``.`` or ``..``."""
    return bool(name) and "/" not in name and name not in (".", "..")
