"""Where inbox entries that cannot be scored are set aside: ``quarantine/<key>[~N]/``, the entry
itself beside ``reason.json``.

On a local disk the entry itself is moved (a link moves as a link, a FIFO is never opened), in a
hidden folder renamed in whole. On a bucket the judged bytes are copied in (``reason.json``,
created once, claims the folder) and the object leaves the inbox only if it still has the ETag it
was judged by: an object replaced meanwhile stays for the next run.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

from imdb_pipeline.store import artifacts
from imdb_pipeline.store.object_store import ObjectPath, PreconditionFailed

QUARANTINE = "quarantine"
REASON = "reason.json"


def quarantine_dir(root: artifacts.Location | None = None) -> artifacts.Location:
    return (root or artifacts.artifact_root()) / QUARANTINE


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
    artifacts.write_json(moving / REASON, _reason_record(path.name, key, reason, version))
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
    record = _reason_record(entry.name, key, reason, version)
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


def _reason_record(name: str, key: str, reason: str, version: str | None) -> dict[str, Any]:
    return {
        "file": artifacts.printable(name),
        "key": key,
        "reason": reason,
        "model_version": version,
        "quarantined_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
