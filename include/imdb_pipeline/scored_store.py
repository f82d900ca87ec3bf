"""Where scored batches and quarantined files live, and the claim that makes scoring happen once.

Layout under the artifact root::

    scored/<champion version>/<batch key>/   scores.jsonl, stats.json, manifest.json  (finished)
    scored/<champion version>/.<batch key>.claim                                     (a lock file)
    quarantine/<batch key>/                  the input file, reason.json

A batch key names one input file by name *and* content (``<name>__<sha256 prefix>``): the same
name dropped again with other reviews is a new batch. Whoever scores a (key, version) holds an
exclusive ``flock`` on its claim file; a second run finds it held and leaves the batch alone, and a
killed worker's claim is released by the kernel. The output folder is written privately and swapped
in whole (``artifacts.stage_writer``), and a finished one is never written again: retries, kills
and two runs at once give each batch exactly one output per champion version.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imdb_pipeline import artifacts

SCORED = "scored"
QUARANTINE = "quarantine"
STATS = "stats.json"
REASON = "reason.json"
_KEY_HASH = 16


def scored_dir(root: Path | None = None) -> Path:
    return (root or artifacts.artifact_root()) / SCORED


def quarantine_dir(root: Path | None = None) -> Path:
    return (root or artifacts.artifact_root()) / QUARANTINE


def batch_key(path: Path) -> str:
    """``<file name>__<first 16 hex of its sha256>``, safe as a folder name."""
    return f"{artifacts.safe_name(path.name)}__{artifacts.sha256_file(path)[:_KEY_HASH]}"


def is_finished(folder: Path) -> bool:
    return (folder / artifacts.MANIFEST).is_file()


def finished_keys(root: Path | None = None) -> dict[str, set[str]]:
    """batch key -> the champion versions that have scored it."""
    done: dict[str, set[str]] = {}
    base = scored_dir(root)
    if not base.is_dir():
        return done
    for version_dir in base.iterdir():
        if version_dir.name.startswith(".") or not version_dir.is_dir():
            continue
        for batch in version_dir.iterdir():
            if not batch.name.startswith(".") and is_finished(batch):
                done.setdefault(batch.name, set()).add(version_dir.name)
    return done


@contextlib.contextmanager
def claim(version_dir: Path, key: str) -> Iterator[bool]:
    """True while this process holds the batch's claim; False when another one holds it now."""
    version_dir.mkdir(parents=True, exist_ok=True)
    with open(version_dir / f".{key}.claim", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def quarantine(path: Path, key: str, reason: str, version: str, root: Path | None = None) -> Path | None:
    """Set the input file aside with the reason (written first); None if it is gone already
    (another run quarantined it)."""
    folder = quarantine_dir(root) / key
    if not path.exists():
        return None
    artifacts.write_json(
        folder / REASON,
        {
            "file": path.name,
            "reason": reason,
            "model_version": version,
            "quarantined_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    )
    target = folder / path.name
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
        shutil.copyfile(path, target)  # another file system: copy, then drop the original
        path.unlink(missing_ok=True)
    return folder


def recent_batches(root: Path | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The latest finished batches' statistics, newest first, with their folders (the Models page)."""
    base = scored_dir(root)
    found = sorted(base.glob(f"*/*/{STATS}"), key=lambda path: path.stat().st_mtime, reverse=True)
    rows = []
    for stats_path in found:
        if len(rows) >= limit:
            break
        if stats_path.parent.name.startswith(".") or not is_finished(stats_path.parent):
            continue
        with contextlib.suppress(OSError, ValueError):
            rows.append({**artifacts.read_json(stats_path), "folder": str(stats_path.parent)})
    return rows


def quarantined(root: Path | None = None) -> list[dict[str, Any]]:
    rows = []
    for reason_path in sorted(quarantine_dir(root).glob(f"*/{REASON}")):
        with contextlib.suppress(OSError, ValueError):
            rows.append({**artifacts.read_json(reason_path), "folder": str(reason_path.parent)})
    return rows
