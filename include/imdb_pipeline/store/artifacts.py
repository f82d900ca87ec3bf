"""Where a run's files live, and how they are written so that no reader ever sees half of them.

Layout: ``<root>/<dag_id>/<run folder>/<stage>/...`` with ``<root>`` from ``IMDB_ARTIFACT_ROOT``
(default ``$AIRFLOW_HOME/artifacts``), a local folder or a bucket URL. A stage writes into a private
temporary folder and, once everything is written, adds ``manifest.json`` (sha256 of every file, wall
time, peak memory) and swaps the folder into place (``staging``), or on a bucket uploads it and
writes the manifest last (``bucket_staging``). The next stage verifies the checksums before it reads
anything; files from a bucket are read through the worker's mirror of their stage (``local_cache``).

Long because it is the one place for the artifact layout: run folders, stage folders and their
manifests, and the two file formats they hold (strict JSON, pickle-free .npz).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from imdb_pipeline.core.errors import MissingUpstreamError, PipelineInputError
from imdb_pipeline.store import bucket_staging, local_cache, object_store, staging
from imdb_pipeline.store.object_store import ObjectPath

Location = Path | ObjectPath  # a folder on this machine, or a prefix in a bucket

MANIFEST = "manifest.json"
TEMPORARY_RUN_PREFIX = "__airflow_temporary_run_"
_MAX_NAME = 200  # bytes of a folder name (file systems allow 255; room for .partial- prefixes)


def artifact_root() -> Location:
    """``IMDB_ARTIFACT_ROOT`` (a folder or a bucket URL such as ``s3://bucket/prefix``), else
    ``$AIRFLOW_HOME/artifacts`` (Airflow's default home otherwise). Nothing is contacted: DAG files
    call it while they are parsed (``checked_root`` is what a task or command calls first)."""
    configured = os.environ.get("IMDB_ARTIFACT_ROOT")
    if configured and object_store.is_url(configured):
        return object_store.parse(configured)
    if configured:
        return Path(configured.removeprefix("file://")).expanduser().resolve()
    airflow_home = os.environ.get("AIRFLOW_HOME") or "~/airflow"
    return (Path(airflow_home).expanduser() / "artifacts").resolve()


def checked_root() -> Location:
    """The artifact root, a bucket checked once per process: a missing bucket, refused credentials or
    an unreachable endpoint fail here, in the first task or command, with one line."""
    root = artifact_root()
    if isinstance(root, ObjectPath):
        object_store.check_root(root)
    return root


def location(text: str | Location) -> Location:
    """A path or URL as written in a record (a decision's ``run_dir``, an XCom value)."""
    if isinstance(text, ObjectPath | Path):
        return text
    return object_store.parse(text) if object_store.is_url(text) else Path(text)


def cache_dir(root: Location | None = None) -> Path:
    """Downloads, shared by every run: ``<root>/cache``; on a bucket root, the worker's local cache."""
    root = root or artifact_root()
    return local_cache.downloads_dir() if isinstance(root, ObjectPath) else root / "cache"


def safe_name(name: str, max_bytes: int = _MAX_NAME) -> str:
    """A run id, DAG id or file name as one path component that cannot climb out of its parent,
    one-to-one: other bytes than letters, digits and ``._-~:+`` are %-escaped (``%`` too, and a file
    name's bytes that are not UTF-8), a leading dot is ``%2E``, and a name longer than ``max_bytes``
    ends in its sha256 instead."""
    if not name:
        raise PipelineInputError("an empty name cannot name an artifact folder.")
    raw = os.fsencode(name)
    escaped = urllib.parse.quote(raw, safe=":+")
    if escaped.startswith("."):
        escaped = "%2E" + escaped[1:]
    if len(escaped) > max_bytes:
        escaped = escaped[: max_bytes - 65] + "~" + hashlib.sha256(raw).hexdigest()
    return escaped


def printable(name: str) -> str:
    """A file name as one log line can hold it: bytes that are not UTF-8 as ``\\xNN``, control
    characters (a newline) escaped."""
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def run_folder_name(run_id: str, logical_date: dt.datetime | None = None) -> str:
    """The folder of a DAG run.

    ``airflow tasks test`` makes a new temporary run id at every call while the logical date stays
    the same, so such runs are keyed by their logical date: consecutive ``tasks test`` calls for one
    date then share a folder, as the tasks of one real run do.
    """
    if run_id.startswith(TEMPORARY_RUN_PREFIX):
        if logical_date is None:
            raise PipelineInputError(f"temporary run {run_id!r} has no logical date to key its folder by.")
        return safe_name(f"tasks_test__{logical_date.isoformat()}")
    return safe_name(run_id)


def run_dir(
    dag_id: str, run_id: str, logical_date: dt.datetime | None = None, root: Location | None = None
) -> Location:
    """``<root>/<dag_id>/<run folder>``, guaranteed to lie inside the root."""
    root = root or artifact_root()
    if isinstance(root, ObjectPath):
        return root / safe_name(dag_id) / run_folder_name(run_id, logical_date)
    root = root.resolve()
    path = (root / safe_name(dag_id) / run_folder_name(run_id, logical_date)).resolve()
    if not path.is_relative_to(root):
        raise PipelineInputError(f"run {run_id!r} would write outside the artifact root {root}.")
    return path


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def stage_writer(run_path: Location, stage: str, replace: bool = True) -> Iterator[StageOutput]:
    """Write a stage's files into a private temporary folder, then swap it in as ``<run>/<stage>``
    (on a bucket: upload it, manifest last; ``replace=False`` makes it create-once there).

    Whatever raises inside the block leaves the previous ``<stage>`` folder (if any) untouched and
    no temporary folder behind; a writer killed outright leaves one that the next writer removes.
    """
    if isinstance(run_path, ObjectPath):
        tmp = Path(tempfile.mkdtemp(prefix=f"{stage[:100]}.", dir=local_cache.work_dir()))
        output = StageOutput(stage, tmp, run_path, attempt=tmp.name)
        try:
            yield output
            output.write_manifest()
            bucket_staging.commit(tmp, run_path / stage, replace=replace)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return
    with staging.private_folder(run_path, stage) as tmp:
        output = StageOutput(stage, tmp, run_path)
        try:
            yield output
            output.write_manifest()
            staging.swap_in(tmp, run_path / stage)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


class StageOutput:
    """The files one stage is writing; ``outputs`` maps names to their final absolute paths (URLs
    on a bucket). ``run_path`` is the run's folder or prefix, ``dir`` the local folder written now."""

    def __init__(self, stage: str, tmp_dir: Path, run_path: Location, attempt: str | None = None):
        self.stage = stage
        self.dir = tmp_dir
        self.run_path = run_path
        self.folder = f"{bucket_staging.ATTEMPTS}/{attempt}" if attempt else None
        self._names: dict[str, str] = {}
        self.extra: dict[str, Any] = {}
        self.meter: Any = None  # a resources.StageMeter, recorded in the manifest

    def path(self, name: str, filename: str) -> Path:
        """Reserve ``filename`` for output ``name``; returns where to write it now."""
        self._names[name] = filename
        return self.dir / filename

    def final_paths(self) -> dict[str, str]:
        final_dir = self.run_path / self.stage
        if self.folder:
            final_dir = final_dir / self.folder
        return {name: str(final_dir / filename) for name, filename in self._names.items()}

    def write_manifest(self) -> None:
        files = {}
        for filename in sorted(self._names.values()):
            file_path = self.dir / filename
            if not file_path.is_file():
                raise RuntimeError(f"stage {self.stage} declared {filename} but did not write it")
            files[filename] = {"sha256": sha256_file(file_path), "bytes": file_path.stat().st_size}
        manifest = {
            "stage": self.stage,
            "outputs": dict(self._names),
            "files": files,
            **({"folder": self.folder} if self.folder else {}),
            "finished_at": dt.datetime.now(dt.UTC).isoformat(),
            **(self.meter.snapshot() if self.meter is not None else {}),
            **self.extra,
        }
        write_json(self.dir / MANIFEST, manifest)


def read_stage(
    run_path: Location,
    stage: str,
    dag_id: str | None = None,
    task_id: str | None = None,
    only: tuple[str, ...] | None = None,
) -> dict[str, str]:
    """A finished stage's outputs from its manifest (folder ``stage``, written by task ``task_id``,
    by default of the same name), checksums verified, as local paths (a bucket's through the worker's
    mirror; ``only`` these outputs, to fetch no more). ``dag_id`` (None: the command line) only shapes
    the hint of how to run a missing stage."""
    if isinstance(run_path, ObjectPath):
        raw = run_path.store.read(run_path / stage / MANIFEST)  # read once: it names the attempt
        finished = raw is not None
    else:
        staging.recover(run_path / stage)
        finished = (run_path / stage / MANIFEST).is_file()
    if not finished:
        how = (
            f"`airflow tasks test {dag_id} {task_id or stage} <same logical date>`"
            if dag_id
            else f"`python -m imdb_pipeline.stages.runner --run-dir {run_path} --stage {task_id or stage}`"
        )
        raise MissingUpstreamError(
            f"the {stage!r} stage has no finished output in {run_path}: run it first, e.g. {how}."
        )
    if isinstance(run_path, ObjectPath):
        manifest = _parse_manifest(raw)
        if manifest is None or not isinstance(manifest.get("outputs"), dict) or "folder" not in manifest:
            raise MissingUpstreamError(
                f"{run_path / stage / MANIFEST} is damaged (truncated or edited): rerun the stage that "
                f"writes {stage}."
            )
        names = {name: file for name, file in manifest["outputs"].items() if only is None or name in only}
        return _fetch_attempt(run_path / stage / manifest["folder"], names, raw)
    manifest = read_manifest(run_path / stage)
    outputs = {name: str(run_path / stage / filename) for name, filename in manifest["outputs"].items()}
    return localize({name: path for name, path in outputs.items() if only is None or name in only})


def read_manifest(stage_path: Location) -> dict[str, Any]:
    """A stage folder's manifest; a damaged one (truncated, edited) is a clear error, not a traceback."""
    try:
        manifest = read_json(stage_path / MANIFEST)
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError):
        manifest = None
    if isinstance(manifest, dict) and all(
        isinstance(manifest.get(key), dict) for key in ("outputs", "files")
    ):
        return manifest
    raise MissingUpstreamError(
        f"{stage_path / MANIFEST} is damaged (truncated or edited): "
        f"rerun the stage that writes {stage_path.name}."
    )


def localize(outputs: Mapping[str, str]) -> dict[str, str]:
    """Outputs as local files, each checked against its stage's manifest. Local paths stay as they
    are; bucket URLs become the worker's mirror of their stage, fetched at most once per worker."""
    local = {name: path for name, path in outputs.items() if not object_store.is_url(path)}
    verify_outputs(local)
    remote: dict[ObjectPath, dict[str, str]] = {}
    for name, url in outputs.items():
        if name not in local:
            path = object_store.parse(url)
            remote.setdefault(path.parent, {})[name] = path.name
    for attempt, names in remote.items():
        local.update(_fetch_attempt(attempt, names))
    return {name: local[name] for name in outputs}


def _fetch_attempt(attempt: ObjectPath, names: Mapping[str, str], raw: bytes | None = None) -> dict[str, str]:
    """Files of one stage attempt (``<stage>/attempts/<id>``) from the worker's mirror of it; ``raw``:
    the stage's manifest as just read (else read now, to check the attempt is still the stage's)."""
    stage_path = attempt.parent.parent
    if raw is None and attempt.parent.name == "attempts":
        raw = stage_path.store.read(stage_path / MANIFEST)
    manifest = _parse_manifest(raw)
    if manifest is None or manifest.get("folder") != f"{attempt.parent.name}/{attempt.name}":
        raise MissingUpstreamError(
            f"{attempt} is not the finished output of {stage_path.name} (the stage was rerun since, or "
            "never finished): rerun the stage that writes it, then this one."
        )
    for _ in range(2):  # a damaged mirror (a disk error, an edit) is fetched again once
        mirror = local_cache.fetch(attempt, raw, sorted(set(names.values())))
        paths = {name: str(mirror / filename) for name, filename in names.items()}
        try:
            verify_outputs(paths)
            return paths
        except MissingUpstreamError:
            local_cache.forget(mirror)
    raise MissingUpstreamError(
        f"{attempt}'s files do not match their manifest: rerun the stage that writes them."
    )


def _parse_manifest(raw: bytes | None) -> dict[str, Any] | None:
    try:
        manifest = json.loads(raw) if raw is not None else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return manifest if isinstance(manifest, dict) else None


def verify_outputs(outputs: Mapping[str, str]) -> None:
    """Check every local file against the manifest of the stage folder it lies in."""
    manifests: dict[Path, dict[str, Any]] = {}
    for name, raw_path in outputs.items():
        path = Path(raw_path)
        folder = path.parent
        if folder not in manifests:
            manifest_path = folder / MANIFEST
            if not manifest_path.is_file():
                raise MissingUpstreamError(
                    f"{path} is not part of a finished stage (no {MANIFEST} beside it): rerun the stage "
                    "that writes it."
                )
            manifests[folder] = read_manifest(folder)
        entry = manifests[folder]["files"].get(path.name)
        if entry is None or not path.is_file() or sha256_file(path) != entry["sha256"]:
            raise MissingUpstreamError(
                f"{path} ({name}) does not match its stage manifest: the stage was rerun or the file "
                "changed since. Rerun the stage that writes it, then this one."
            )


def write_json(path: Path, payload: Any) -> None:
    """Write strict JSON atomically (temporary name in the same folder, then rename). Non-finite
    floats (a diverged loss) become null: NaN is not JSON, and other readers refuse it."""
    text = json.dumps(_finite(payload), indent=2, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def read_json(path: Location | str) -> Any:
    """A JSON file, local or in a bucket (a missing object raises FileNotFoundError either way)."""
    if object_store.is_url(path):
        where = location(path)
        raw = where.store.read(where)
        if raw is None:
            raise FileNotFoundError(str(where))
        return json.loads(raw.decode("utf-8"))
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    """Uncompressed .npz (fast to read), never pickled: object arrays are refused."""
    for name, array in arrays.items():
        if np.asarray(array).dtype == object:
            raise TypeError(f"{name} is an object array; artifacts hold numeric arrays only")
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def load_arrays(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}
