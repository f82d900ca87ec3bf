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
import datetime as dt
import errno
import fcntl
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imdb_pipeline.store import artifacts, object_store
from imdb_pipeline.store.object_store import ObjectPath, PreconditionFailed

SCORED = "scored"
QUARANTINE = "quarantine"
STATS = "stats.json"
REASON = "reason.json"
_KEY_HASH = 16
_KEY_NAME_BYTES = 180  # the name's share of a key: room for __<hash> and a claim's dot
CLAIM_SECONDS = 30 * 60  # on a bucket: a claim older than this lost its run (killed): taken over


def scored_dir(root: artifacts.Location | None = None) -> Path:
    return (root or artifacts.artifact_root()) / SCORED


def quarantine_dir(root: artifacts.Location | None = None) -> Path:
    return (root or artifacts.artifact_root()) / QUARANTINE


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
        with object_store.lease(version_dir / f".{key}.claim", CLAIM_SECONDS, wait=False) as held:
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


class CannotMove(Exception):
    """The entry cannot be taken out of the inbox (permissions, another file system): it stays."""


def quarantine(
    path: Path,
    key: str,
    reason: str,
    version: str | None,
    root: artifacts.Location | None = None,
    inode: int | None = None,
) -> Path | None:
    """Move the inbox entry itself into ``quarantine/<key>/`` beside ``reason.json``: a link moves as
    a link, a FIFO is never opened. Built in a hidden folder and renamed in whole (``<key>~2``... when
    the same bytes were quarantined before). Returns the folder; None when the entry is gone (another
    run moved it). ``inode``: the file that was judged; when the name holds another one now (replaced
    meanwhile), that one goes back and ``FileChanged`` is raised. ``CannotMove``: it must stay."""
    base = quarantine_dir(root)
    base.mkdir(parents=True, exist_ok=True)
    moving = Path(tempfile.mkdtemp(prefix=f".{key}.moving-", dir=base))
    try:
        _move_entry(path, moving / path.name, inode)
    except FileNotFoundError:
        shutil.rmtree(moving, ignore_errors=True)
        return None
    except BaseException:
        shutil.rmtree(moving, ignore_errors=True)
        raise
    artifacts.write_json(
        moving / REASON,
        {
            "file": artifacts.printable(path.name),
            "key": key,
            "reason": reason,
            "model_version": version,
            "quarantined_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    )
    for attempt in range(1, 1000):
        folder = base / (key if attempt == 1 else f"{key}~{attempt}")
        try:
            os.rename(moving, folder)  # never onto a finished folder: it is not empty
            return folder
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    raise CannotMove(f"quarantine/{key} is taken 999 times: clean up {base}")


class FileChanged(Exception):
    """The name holds another file than the one judged: it was put back, for the next run."""


def _move_entry(path: Path, target: Path, inode: int | None) -> None:
    try:
        os.rename(path, target)  # the entry itself, whatever it is
    except FileNotFoundError:
        raise
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise CannotMove(f"it cannot be moved out of the inbox ({err.strerror})") from None
        _copy_across(path, target, inode)
        return
    if inode is not None and os.lstat(target).st_ino != inode:
        try:
            os.link(target, path)  # back under its name (never over a newer file)
        except OSError:
            return  # the name is taken again: keep this one here rather than lose it
        os.unlink(target)
        raise FileChanged()


def _copy_across(path: Path, target: Path, inode: int | None) -> None:
    """Another file system: a link is re-made as a link, a regular file copied through a no-follow
    descriptor (never a link's target), then the original removed; anything else stays."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(path), target)
        os.unlink(path)
        return
    if not stat.S_ISREG(info.st_mode):
        raise CannotMove("it is not a regular file and lies on another file system than the quarantine")
    try:
        source = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        raise CannotMove(f"it cannot be copied to the quarantine ({err.strerror})") from None
    with os.fdopen(source, "rb") as reader:
        copied = os.fstat(source)
        if not stat.S_ISREG(copied.st_mode) or (inode is not None and copied.st_ino != inode):
            raise FileChanged()
        with open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as writer:
            shutil.copyfileobj(reader, writer)
    try:
        if os.lstat(path).st_ino == copied.st_ino:
            os.unlink(path)
    except OSError as err:
        target.unlink()
        raise CannotMove(f"it cannot be removed from the inbox ({err.strerror})") from None


def quarantine_object(
    entry: ObjectPath,
    etag: str,
    key: str,
    reason: str,
    version: str | None,
    root: ObjectPath,
    received: Path | None = None,
) -> ObjectPath | None:
    """Set a bucket inbox object aside: ``quarantine/<key>[~N]/`` gets ``reason.json`` (created once:
    it claims the folder) and the object's bytes (``received``: the copy that was judged; else copied
    in the bucket), then the object leaves the inbox only if it still has ``etag``. Returns the
    folder; None when it is gone; ``FileChanged`` when it was replaced meanwhile (the copy is
    removed, the new object stays for the next run)."""
    store = root.store
    base = root / QUARANTINE
    record = {
        "file": artifacts.printable(entry.name),
        "key": key,
        "reason": reason,
        "model_version": version,
        "quarantined_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    for attempt in range(1, 1000):
        folder = base / (key if attempt == 1 else f"{key}~{attempt}")
        try:
            store.create(folder / REASON, (json.dumps(record, indent=2) + "\n").encode())
            break
        except PreconditionFailed:
            continue
    else:
        raise CannotMove(f"quarantine/{key} is taken 999 times: clean up {base}")
    try:
        if received is not None and received.is_file():
            store.upload(received, folder / entry.name)
        else:
            store.copy(entry, folder / entry.name, etag)
    except FileNotFoundError:
        store.delete(folder, recursive=True)
        return None
    except PreconditionFailed:
        store.delete(folder, recursive=True)
        raise FileChanged() from None
    try:
        store.delete_if(entry, etag)
    except PreconditionFailed:
        store.delete(folder, recursive=True)
        raise FileChanged() from None
    return folder


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
        with contextlib.suppress(OSError, ValueError):
            stats = artifacts.read_stage(base / version, key)["stats"]
            rows.append({**artifacts.read_json(stats), "folder": str(base / version / key)})
    return rows
