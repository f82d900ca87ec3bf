"""Where scored batches and quarantined files live, and the claim that makes scoring happen once.

Layout under the artifact root::

    scored/<champion version>/<batch key>/   scores.jsonl, stats.json, manifest.json  (finished)
    scored/<champion version>/.<batch key>.claim                                     (a lock file)
    quarantine/<batch key>[~N]/              the inbox entry itself (never what a link points to), reason.json

A batch key names one input file by name *and* content (``<name>__<sha256 prefix>``): the same
name dropped again with other reviews is a new batch. An entry that cannot be hashed (a link, a
FIFO, an unreadable file) is keyed by its name and kind. Whoever scores a (key, version) holds an
exclusive ``flock`` on its claim file; a second run finds it held and leaves the batch alone, and a
killed worker's claim is released by the kernel. The output folder is written privately and swapped
in whole (``artifacts.stage_writer``), and a finished one is never written again: retries, kills
and two runs at once give each batch exactly one output per champion version.

On a bucket the claim is a lease object (``object_store.lease``), which only saves duplicate work;
exactly once rests on the batch's manifest, created with ``If-None-Match``: of two runs that both
scored a batch, one commits and the other learns it lost (``bucket_staging.AlreadyCommitted``).
A quarantined object is copied under ``quarantine/`` and deleted from the inbox only if it still
has the ETag it was judged by.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imdb_pipeline.store import artifacts, leases
from imdb_pipeline.store.object_store import ObjectPath

SCORED = "scored"
STATS = "stats.json"
_KEY_HASH = 16
_KEY_NAME_BYTES = 180  # the name's share of a key: room for __<hash> and a claim's dot
CLAIM_SECONDS = 60  # on a bucket: renewed while held; older than this, its run was killed: taken over


def scored_dir(root: artifacts.Location | None = None) -> Path:
    return (root or artifacts.artifact_root()) / SCORED


def batch_key(name: str, sha256: str) -> str:
    """``<file name>__<first 16 hex of its sha256>``, safe as a folder name for any file name."""
    return f"{artifacts.safe_name(name, _KEY_NAME_BYTES)}__{sha256[:_KEY_HASH]}"


# The word an entry's kind adds to its key (the rest: the kind's first word, "fifo", "folder", ...).
_KIND_TAGS = {"symbolic link": "link", "character device": "device", "block device": "device"}


def entry_key(name: str, kind: str) -> str:
    """The key of an entry whose content is not read (a link, a FIFO, an unreadable file)."""
    tag = _KIND_TAGS.get(kind, kind.split()[0].lower())
    return f"{artifacts.safe_name(name, _KEY_NAME_BYTES)}__{tag}"


def is_finished(folder: artifacts.Location) -> bool:
    if isinstance(folder, ObjectPath):
        return folder.store.exists(folder / artifacts.MANIFEST)
    return (folder / artifacts.MANIFEST).is_file()


def _bucket_manifests(base: ObjectPath) -> list[tuple[str, str, Any]]:
    """(version, key, last modified) of every finished batch under ``scored/``, in one listing."""
    try:
        found = base.store.fs.find(base.key, detail=True)
    except FileNotFoundError:
        return []
    rows = []
    for name, info in found.items():
        parts = name[len(base.key) + 1 :].split("/")
        if len(parts) == 3 and parts[2] == artifacts.MANIFEST and not parts[1].startswith("."):
            rows.append((parts[0], parts[1], info.get("LastModified")))
    return rows


def finished_keys(root: artifacts.Location | None = None) -> dict[str, set[str]]:
    """batch key -> the champion versions that have scored it."""
    done: dict[str, set[str]] = {}
    base = scored_dir(root)
    if isinstance(base, ObjectPath):
        for version, key, _ in _bucket_manifests(base):
            done.setdefault(key, set()).add(version)
        return done
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
def claim(version_dir: artifacts.Location, key: str) -> Iterator[bool]:
    """True while this process holds the batch's claim; False when another one holds it now."""
    if isinstance(version_dir, ObjectPath):
        with leases.held(version_dir / f".{key}.claim", CLAIM_SECONDS) as held:
            yield held
        return
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


def recent_batches(root: artifacts.Location | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The latest finished batches' statistics, newest first, with their folders (the Models page)."""
    base = scored_dir(root)
    if isinstance(base, ObjectPath):
        return _recent_bucket_batches(base, limit)
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


def _recent_bucket_batches(base: ObjectPath, limit: int) -> list[dict[str, Any]]:
    newest = sorted(_bucket_manifests(base), key=lambda row: str(row[2]), reverse=True)[:limit]
    rows = []
    for version, key, _ in newest:
        with contextlib.suppress(FileNotFoundError, ValueError):  # removed or damaged: not shown
            stats = artifacts.read_stage(base / version, key, only=("stats",))["stats"]
            rows.append({**artifacts.read_json(stats), "folder": str(base / version / key)})
    return rows
