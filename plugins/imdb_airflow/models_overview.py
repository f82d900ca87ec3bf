"""What the Models page shows, read from the artifact root: champions, training runs, scoring batches.

Plain data (and short labels of the long version names), so the page (``models_page``) and its plot
(``models_chart``) only render. Every file read here was written atomically by a stage; one that
cannot be read (a run in progress, a damaged file) is left out rather than failing the page.

On a bucket root a file is found through its stage's manifest (``<stage>/attempts/<id>/<file>``) and
read through ``artifacts.localize``, checked against that manifest. The number of requests a page
load makes is bounded: the ``BUCKET_RUNS`` newest training runs, the ``BUCKET_BATCHES`` newest batches,
the ``BUCKET_VERSIONS`` newest champion versions. A bucket that cannot be read is not "left out": its
error reaches the page, which says the store is unavailable.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from imdb_pipeline.store import artifacts, model_store, scored_batches
from imdb_pipeline.store.object_store import ObjectPath

TRAINING_DAGS = ("imdb_sentiment", "imdb_experiments")
ROLLBACK = "python -m imdb_pipeline.store.model_store --rollback"
# On a bucket root, what one page load reads at most: a listing per folder, then each item's manifest
# and file (four requests each with today's library, eight at a time; batches three each, in a row).
BUCKET_RUNS = 20  # training runs, the newest by the date in their run id, both DAGs together
BUCKET_BATCHES = 20  # scoring batches, the newest by their manifest's time
BUCKET_VERSIONS = 10  # champion versions (the store keeps model_store.KEEP_VERSIONS, two more at most)
_BUCKET_READERS = 8
# Why a stage folder in a bucket is left out: unfinished (no manifest), damaged (a manifest or file that
# does not match: PipelineInputError is a ValueError), not JSON. Anything else is the bucket failing.
_UNREADABLE = (FileNotFoundError, ValueError, KeyError, TypeError)


def _read(path: Path) -> Any:
    with contextlib.suppress(OSError, ValueError):
        return artifacts.read_json(path)
    return None


def _bucket_file(stage: ObjectPath, filename: str) -> tuple[dict[str, Any], Path] | None:
    """A finished bucket stage's manifest and the local copy of one of its files, checked against
    that manifest (``artifacts.localize``); None when the stage is unfinished or damaged."""
    try:
        manifest = artifacts.read_manifest(stage)
        if filename not in manifest["files"]:
            return None
        local = artifacts.localize({filename: str(stage / manifest["folder"] / filename)})[filename]
    except _UNREADABLE:
        return None
    return manifest, Path(local)


def _read_bucket_stage(stage: ObjectPath, filename: str) -> tuple[dict[str, Any], Any] | None:
    """A finished bucket stage's manifest and one JSON file of it, or None (see ``_bucket_file``)."""
    found = _bucket_file(stage, filename)
    data = _read(found[1]) if found else None
    return (found[0], data) if data is not None else None


def champions(root: artifacts.Location | None = None) -> list[dict[str, Any]]:
    """Every champion version kept, newest first: when, from which run, accuracy, what it replaced."""
    root = root or artifacts.artifact_root()
    current = None
    with contextlib.suppress(Exception):
        current = model_store.current_version(root)
    newest = list(reversed(model_store.versions(root)))
    if isinstance(root, ObjectPath):
        newest = newest[:BUCKET_VERSIONS]
        found = _in_parallel(
            lambda v: _read_bucket_stage(root / model_store.VERSIONS / v, model_store.INFO), newest
        )
        infos = [item[1] if item and isinstance(item[1], dict) else {} for item in found]
    else:
        infos = [_read(root / model_store.VERSIONS / version / model_store.INFO) or {} for version in newest]
    rows = []
    for version, info in zip(newest, infos, strict=True):
        rows.append(
            {
                "version": version,
                "current": version == current,
                "promoted_at": info.get("promoted_at"),
                "dag_id": info.get("dag_id"),
                "run": info.get("run"),
                "test_accuracy": info.get("test_accuracy"),
                "previous": info.get("previous"),
                "rollback": ROLLBACK if version == current and info.get("previous") else None,
            }
        )
    return rows


def training_runs(root: artifacts.Location | None = None) -> list[dict[str, Any]]:
    """Each finished evaluation of a training DAG's run (oldest first): when, which run, test accuracy.
    On a bucket, of the ``BUCKET_RUNS`` newest runs only."""
    root = root or artifacts.artifact_root()
    if isinstance(root, ObjectPath):
        return _bucket_training_runs(root)
    rows = []
    for dag_id in TRAINING_DAGS:
        for folder in (root / dag_id).glob("*/evaluate"):
            manifest = _read(folder / artifacts.MANIFEST) or {}
            evaluation = _read(folder / "evaluation.json") or {}
            if "finished_at" in manifest and isinstance(evaluation.get("test_accuracy"), int | float):
                rows.append(
                    {
                        "dag_id": dag_id,
                        "run": folder.parent.name,
                        "finished_at": manifest["finished_at"],
                        "test_accuracy": float(evaluation["test_accuracy"]),
                    }
                )
    return sorted(rows, key=lambda row: row["finished_at"])


def _run_age(name: str) -> tuple[int, Any]:
    """How new a run folder is, by the date its run id ends with (``manual__<date>``,
    ``scheduled__<date>``: every id Airflow makes); an id without one counts as older than all."""
    with contextlib.suppress(ValueError):
        when = dt.datetime.fromisoformat(name.rpartition("__")[2])
        return 1, when if when.tzinfo else when.replace(tzinfo=dt.UTC)
    return 0, name


def _bucket_training_runs(root: ObjectPath) -> list[dict[str, Any]]:
    """One listing per training DAG, then the evaluation of each of the newest runs."""
    named = [
        (dag_id, name)
        for dag_id in TRAINING_DAGS
        for name in root.store.children(root / dag_id)
        if not name.startswith(".")
    ]
    newest = sorted(named, key=lambda item: _run_age(item[1]), reverse=True)[:BUCKET_RUNS]

    def evaluation(item: tuple[str, str]) -> dict[str, Any] | None:
        dag_id, run = item
        found = _read_bucket_stage(root / dag_id / run / "evaluate", "evaluation.json")
        if found is None:
            return None
        manifest, evaluation = found
        accuracy = evaluation.get("test_accuracy") if isinstance(evaluation, dict) else None
        if not isinstance(manifest.get("finished_at"), str) or not isinstance(accuracy, int | float):
            return None
        return {
            "dag_id": dag_id,
            "run": run,
            "finished_at": manifest["finished_at"],
            "test_accuracy": float(accuracy),
        }

    rows = [row for row in _in_parallel(evaluation, newest) if row is not None]
    return sorted(rows, key=lambda row: row["finished_at"])


def _in_parallel(read, items: list) -> list:
    """``read`` of each item, in order, up to ``_BUCKET_READERS`` at a time (each waits on the bucket)."""
    if len(items) <= 1:
        return [read(item) for item in items]
    with ThreadPoolExecutor(min(_BUCKET_READERS, len(items)), thread_name_prefix="imdb-models") as pool:
        return list(pool.map(read, items))


def batches(root: artifacts.Location | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The recent scoring batches, newest first: rows, positive rate, drift flags (on a bucket, at
    most ``BUCKET_BATCHES``)."""
    root = root or artifacts.artifact_root()
    if isinstance(root, ObjectPath):
        limit = min(limit, BUCKET_BATCHES)
    rows = []
    for stats in scored_batches.recent_batches(root, limit):
        drift = stats.get("drift") if isinstance(stats.get("drift"), dict) else {}
        flags = drift.get("flags") if isinstance(drift.get("flags"), list) else []
        rows.append(
            {
                "file": stats.get("file"),
                "model_version": stats.get("model_version"),
                "key": stats.get("key"),
                "finished_at": stats.get("finished_at"),
                "rows": stats.get("rows"),
                "positive_rate": stats.get("positive_rate"),
                "drifted": bool(drift.get("drifted")),
                "drift_flags": [str(flag) for flag in flags],
                "drift_tested": bool(drift.get("tested")),
            }
        )
    return rows


def version_labels(names: list[str]) -> dict[str, str]:
    """Short labels of champion version names, each its promotion time (``model_store.install`` names
    a version ``<%Y%m%dT%H%M%S.%fZ>__<dag>__<run>``) to the minute, or to the second or microsecond
    where that is needed to tell the given versions apart; a name of another shape has none."""
    stamps = {}
    for name in names:
        with contextlib.suppress(ValueError):
            stamps[name] = dt.datetime.strptime(name.partition("__")[0], "%Y%m%dT%H%M%S.%fZ")
    for shape in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f"):
        labels = {name: when.strftime(shape) for name, when in stamps.items()}
        if len(set(labels.values())) == len(labels):
            break
    return labels


def batch_stats_path(model_version: str, key: str, root: artifacts.Location | None = None) -> Path | None:
    """A finished batch's ``stats.json``; None unless both names are folders right under the store.
    On a bucket, the local copy of it, checked against the batch's manifest."""
    names_ok = not any(name.startswith(".") or "/" in name for name in (model_version, key))
    root = root or artifacts.artifact_root()
    if isinstance(root, ObjectPath):
        return _bucket_stats(scored_batches.scored_dir(root), model_version, key) if names_ok else None
    base = scored_batches.scored_dir(root).resolve()
    folder = (base / model_version / key).resolve()
    if not names_ok or folder.parent.parent != base or not scored_batches.is_finished(folder):
        return None
    return folder / scored_batches.STATS


def _bucket_stats(base: ObjectPath, model_version: str, key: str) -> Path | None:
    """The verified local copy of a finished bucket batch's statistics, or None."""
    try:
        stage = base / model_version / key
    except ValueError:  # "", "." or "..": no object has such a name
        return None
    found = _bucket_file(stage, scored_batches.STATS) if stage.parent.parent == base else None
    return found[1] if found else None
