"""Where a run's files live, and how they are written so that no reader ever sees half of them.

Layout: ``<root>/<dag_id>/<run folder>/<stage>/...`` with ``<root>`` from ``IMDB_ARTIFACT_ROOT``
(default ``$AIRFLOW_HOME/artifacts``). A stage writes into a private temporary folder and, once
everything is written, adds ``manifest.json`` (sha256 of every file, wall time, peak memory) and
swaps the folder into place. The next stage verifies the checksums before it reads anything.

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
from imdb_pipeline.store import staging

MANIFEST = "manifest.json"
TEMPORARY_RUN_PREFIX = "__airflow_temporary_run_"
_MAX_NAME = 200  # bytes of a folder name (file systems allow 255; room for .partial- prefixes)


def artifact_root() -> Path:
    """``IMDB_ARTIFACT_ROOT``, else ``$AIRFLOW_HOME/artifacts`` (Airflow's default home otherwise)."""
    configured = os.environ.get("IMDB_ARTIFACT_ROOT")
    if configured:
        return Path(configured).expanduser().resolve()
    airflow_home = os.environ.get("AIRFLOW_HOME") or "~/airflow"
    return (Path(airflow_home).expanduser() / "artifacts").resolve()


def cache_dir(root: Path | None = None) -> Path:
    """Downloads, shared by every run: ``<root>/cache``."""
    return (root or artifact_root()) / "cache"


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
    dag_id: str, run_id: str, logical_date: dt.datetime | None = None, root: Path | None = None
) -> Path:
    """``<root>/<dag_id>/<run folder>``, guaranteed to lie inside the root."""
    root = (root or artifact_root()).resolve()
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
def stage_writer(run_path: Path, stage: str) -> Iterator[StageOutput]:
    """Write a stage's files into a private temporary folder, then swap it in as ``<run>/<stage>``.

    Whatever raises inside the block leaves the previous ``<stage>`` folder (if any) untouched and
    no temporary folder behind; a writer killed outright leaves one that the next writer removes.
    """
    with staging.private_folder(run_path, stage) as tmp:
        output = StageOutput(stage, tmp)
        try:
            yield output
            output.write_manifest()
            staging.swap_in(tmp, run_path / stage)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


class StageOutput:
    """The files one stage is writing; ``outputs`` maps names to their final absolute paths."""

    def __init__(self, stage: str, tmp_dir: Path):
        self.stage = stage
        self.dir = tmp_dir
        self._names: dict[str, str] = {}
        self.extra: dict[str, Any] = {}
        self.meter: Any = None  # a resources.StageMeter, recorded in the manifest

    def path(self, name: str, filename: str) -> Path:
        """Reserve ``filename`` for output ``name``; returns where to write it now."""
        self._names[name] = filename
        return self.dir / filename

    def final_paths(self) -> dict[str, str]:
        final_dir = self.dir.parent / self.stage
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
            "finished_at": dt.datetime.now(dt.UTC).isoformat(),
            **(self.meter.snapshot() if self.meter is not None else {}),
            **self.extra,
        }
        write_json(self.dir / MANIFEST, manifest)


def read_stage(
    run_path: Path, stage: str, dag_id: str | None = None, task_id: str | None = None
) -> dict[str, str]:
    """A finished stage's outputs from its manifest (folder ``stage``, written by task ``task_id``,
    by default of the same name), checksums verified. ``dag_id`` (None: the command line) only
    shapes the hint of how to run a missing stage."""
    staging.recover(run_path / stage)
    manifest_path = run_path / stage / MANIFEST
    if not manifest_path.is_file():
        how = (
            f"`airflow tasks test {dag_id} {task_id or stage} <same logical date>`"
            if dag_id
            else f"`python -m imdb_pipeline.stages.runner --run-dir {run_path} --stage {task_id or stage}`"
        )
        raise MissingUpstreamError(
            f"the {stage!r} stage has no finished output in {run_path}: run it first, e.g. {how}."
        )
    manifest = read_manifest(run_path / stage)
    outputs = {name: str(run_path / stage / filename) for name, filename in manifest["outputs"].items()}
    verify_outputs(outputs)
    return outputs


def read_manifest(stage_path: Path) -> dict[str, Any]:
    """A stage folder's manifest; a damaged one (truncated, edited) is a clear error, not a traceback."""
    try:
        manifest = read_json(stage_path / MANIFEST)
    except (UnicodeDecodeError, json.JSONDecodeError):
        manifest = None
    if isinstance(manifest, dict) and all(
        isinstance(manifest.get(key), dict) for key in ("outputs", "files")
    ):
        return manifest
    raise MissingUpstreamError(
        f"{stage_path / MANIFEST} is damaged (truncated or edited): "
        f"rerun the stage that writes {stage_path.name}."
    )


def verify_outputs(outputs: Mapping[str, str]) -> None:
    """Check every file against the manifest of the stage folder it lies in."""
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


def read_json(path: Path) -> Any:
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
