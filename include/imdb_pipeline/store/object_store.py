"""An artifact root in object storage (``s3://bucket/prefix``; ``gs://``, ``abfs://`` through fsspec).

Object stores have no rename and no lock. What replaces them here: a write that creates a key only
if it does not exist (``If-None-Match: *``) and one that replaces it only if it is still the version
read (``If-Match: <etag>``). Everything that must be atomic on a bucket is built from those two.

The library knows nothing of Airflow: the file system comes from the storage SDK's own environment
(``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, ...) unless the caller hands one over (``use``), as
the Airflow-facing layer does with the one its connection makes. Long because each operation
translates the SDK's failures (a lost precondition, a missing bucket) in this one place.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imdb_pipeline.core.errors import PipelineInputError, StorageUnavailableError

_URL = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<rest>.*)$")
_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "abfs": "adlfs", "az": "adlfs"}
_handed_over: dict[str, Any] = {}  # protocol -> file system given by the caller (``use``)
_checked: set[str] = set()  # roots whose bucket answered once in this process
_lock = threading.Lock()


def is_url(text: str | Path | ObjectPath) -> bool:
    """Whether an artifact location names object storage (``file://`` is a local path)."""
    if isinstance(text, ObjectPath):
        return True
    match = _URL.match(str(text)) if isinstance(text, str) else None
    return bool(match) and match["scheme"] != "file"


class PreconditionFailed(Exception):
    """A conditional write lost: the key exists (create) or changed since it was read (replace)."""


@dataclass(frozen=True)
class ObjectPath:
    """A key under an object-storage root, joined with ``/`` like a path; ``str`` gives its URL."""

    protocol: str
    key: str  # bucket/prefix/..., no leading or trailing slash

    def __truediv__(self, part: str) -> ObjectPath:
        part = str(part).strip("/")
        if not part or any(piece in ("", ".", "..") for piece in part.split("/")):
            raise PipelineInputError(f"{part!r} cannot name an object under {self}.")
        return ObjectPath(self.protocol, f"{self.key}/{part}")

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def parent(self) -> ObjectPath:
        return ObjectPath(self.protocol, self.key.rsplit("/", 1)[0])

    @property
    def bucket(self) -> str:
        return self.key.split("/", 1)[0]

    def is_relative_to(self, other: ObjectPath) -> bool:
        return self.protocol == other.protocol and (self.key + "/").startswith(other.key + "/")

    def __str__(self) -> str:
        return f"{self.protocol}://{self.key}"

    @property
    def store(self) -> ObjectStore:
        return ObjectStore(filesystem(self.protocol))


def parse(url: str) -> ObjectPath:
    """``s3://bucket/prefix`` as an ``ObjectPath``; a URL without a bucket is refused."""
    match = _URL.match(url)
    if not match or not match["rest"].strip("/"):
        raise PipelineInputError(f"{url!r} is not an object-storage URL like s3://bucket/prefix.")
    parts = [part for part in match["rest"].split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise PipelineInputError(f"{url!r} has '.' or '..' in it: name the bucket and prefix plainly.")
    return ObjectPath(match["scheme"], "/".join(parts))


def use(protocol: str, fs: Any) -> None:
    """Use ``fs`` (an fsspec file system, e.g. made from an Airflow connection) for ``protocol``."""
    with _lock:
        _handed_over[protocol] = fs


def filesystem(protocol: str) -> Any:
    """The file system for a protocol: the one handed over, else fsspec's from the SDK environment.
    A protocol whose fsspec package is missing is a clear error naming the package."""
    with _lock:
        if protocol in _handed_over:
            return _handed_over[protocol]
    import fsspec

    try:
        return fsspec.filesystem(protocol)
    except (ImportError, ValueError) as err:
        package = _PACKAGES.get(protocol, f"the fsspec package for {protocol}://")
        raise PipelineInputError(
            f"the artifact root's scheme {protocol}:// needs {package}, which is not installed "
            f"({err}): pip install {package}, or set IMDB_ARTIFACT_ROOT to a local folder."
        ) from None


def check_root(root: ObjectPath) -> None:
    """Fail once, with one line, when the root's bucket is missing, refuses the credentials or cannot
    be reached (the first task of a run says it, not a traceback deep in a stage)."""
    if str(root) in _checked:
        return
    fs = filesystem(root.protocol)
    try:
        fs.ls(root.bucket, detail=False, refresh=True)
    except Exception as err:  # translated into what to do, or re-raised as it is
        raise storage_error(err, root) from None
    _checked.add(str(root))


def storage_error(err: BaseException, where: ObjectPath) -> Exception:
    """What an SDK error means for the user: one line naming the bucket and what to do. A lost
    connection is left retryable; a missing bucket or refused credentials are input errors."""
    text = f"{type(err).__name__}: {err}"
    if isinstance(err, FileNotFoundError) and "bucket" in str(err).lower():
        return PipelineInputError(
            f"the bucket {where.bucket!r} of the artifact root {where} does not exist: create it "
            f"(e.g. `aws s3 mb s3://{where.bucket}`) or fix IMDB_ARTIFACT_ROOT."
        )
    if isinstance(err, PermissionError) or re.search(
        r"InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|ExpiredToken|NoCredentials|Forbidden|403",
        text,
    ):
        return PipelineInputError(
            f"the object store refused the credentials for {where} ({str(err)[:200]}): check the "
            "connection named by IMDB_ARTIFACT_CONN_ID (tasks and pages) or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (command line), and the bucket's policy."
        )
    if re.search(r"EndpointConnectionError|ConnectTimeout|Could not connect", text):
        return StorageUnavailableError(
            f"cannot reach the object store for {where} ({str(err)[:200]}): check the endpoint "
            "(AWS_ENDPOINT_URL, or the connection's endpoint_url) and the network."
        )
    return err if isinstance(err, Exception) else RuntimeError(text)


MAX_READ_BYTES = 64 << 20  # what is read whole: manifests, pointers, leases, a report's files


def _check_size(path: ObjectPath, size: int) -> None:
    if size > MAX_READ_BYTES:
        raise PipelineInputError(
            f"{path} holds {size:,} bytes, more than any manifest, pointer or report file "
            f"({MAX_READ_BYTES:,}): it was not written by this project; remove it or rerun the stage that "
            "owns the folder."
        )


@contextlib.contextmanager
def _precondition(what: ObjectPath) -> Iterator[None]:
    """S3's 412 as ``PreconditionFailed`` (s3fs wraps it in a plain OSError, the botocore error its
    cause); any other error as it is."""
    try:
        yield
    except OSError as err:
        if "pre-condition" in str(err) or "PreconditionFailed" in repr(err.__cause__):
            raise PreconditionFailed(f"{what} changed") from None
        raise


class ObjectStore:
    """The few operations the store needs, on one fsspec file system."""

    def __init__(self, fs: Any):
        self.fs = fs

    def read(self, path: ObjectPath) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        found = self.read_versioned(path)
        return None if found is None else found[0]

    def read_versioned(self, path: ObjectPath) -> tuple[bytes, str] | None:
        """(bytes, etag) of one version of the object, or None when it does not exist. On S3 one GET
        gives both; elsewhere the etag is read first: if the object changes in between, a replace
        conditioned on it fails and is retried, never the reverse."""
        try:
            if hasattr(self.fs, "_call_s3"):
                from fsspec.asyn import sync

                return sync(self.fs.loop, self._s3_get, path)
            info = self.fs.info(path.key, refresh=True)
            _check_size(path, info.get("size") or 0)
            return self.fs.cat_file(path.key), info["ETag"]
        except FileNotFoundError as err:
            if "bucket" in str(err).lower():
                raise storage_error(err, path) from None
            return None

    async def _s3_get(self, path: ObjectPath) -> tuple[bytes, str]:
        bucket, _, key = path.key.partition("/")
        response = await self.fs._call_s3("get_object", Bucket=bucket, Key=key)
        try:
            _check_size(path, response.get("ContentLength") or 0)
            return await response["Body"].read(), response["ETag"]
        finally:
            response["Body"].close()

    def etag(self, path: ObjectPath) -> str | None:
        try:
            return self.fs.info(path.key, refresh=True)["ETag"]
        except FileNotFoundError:
            return None

    def create(self, path: ObjectPath, data: bytes) -> None:
        """Write only if the key does not exist yet (``If-None-Match: *``)."""
        try:
            self.fs.pipe_file(path.key, data, mode="create")
        except FileExistsError:
            raise PreconditionFailed(f"{path} exists") from None
        finally:
            self.fs.invalidate_cache(path.parent.key)

    def replace(self, path: ObjectPath, data: bytes, etag: str) -> None:
        """Write only if the key still has ``etag`` (``If-Match``)."""
        if path.protocol not in ("s3", "s3a"):
            raise PipelineInputError(
                f"replacing {path} conditionally is implemented for s3:// only: use an S3 bucket or a "
                "local artifact root."
            )
        try:
            with _precondition(path):
                self.fs.pipe_file(path.key, data, IfMatch=etag)
        except FileNotFoundError:  # deleted since it was read: it changed too
            raise PreconditionFailed(f"{path} is gone") from None
        finally:
            self.fs.invalidate_cache(path.parent.key)

    def copy(self, source: ObjectPath, target: ObjectPath, etag: str) -> None:
        """Copy an object only while it still has ``etag`` (``x-amz-copy-source-if-match``)."""
        with _precondition(source):
            self.fs.copy(source.key, target.key, CopySourceIfMatch=etag)

    def delete_if(self, path: ObjectPath, etag: str) -> None:
        """Delete an object only if it still has ``etag`` (``If-Match`` on DeleteObject)."""
        bucket, _, key = path.key.partition("/")
        try:
            with _precondition(path):
                self.fs.call_s3("delete_object", Bucket=bucket, Key=key, IfMatch=etag)
        finally:
            self.fs.invalidate_cache(path.parent.key)

    def put(self, path: ObjectPath, data: bytes) -> None:
        self.fs.pipe_file(path.key, data)

    def upload(self, local: Path, path: ObjectPath) -> None:
        self.fs.put_file(str(local), path.key)

    def download(self, path: ObjectPath, local: Path) -> None:
        self.fs.get_file(path.key, str(local))

    def exists(self, path: ObjectPath) -> bool:
        return self.etag(path) is not None

    def children(self, path: ObjectPath) -> list[str]:
        """Names directly under ``path`` (objects and prefixes); empty when there is none."""
        try:
            listed = self.fs.ls(path.key, detail=False, refresh=True)
        except FileNotFoundError:
            return []
        return sorted({entry.rstrip("/").rsplit("/", 1)[-1] for entry in listed} - {""})

    def delete(self, path: ObjectPath, recursive: bool = False) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(path.key, recursive=recursive)
