"""A folder written privately, then swapped in whole: what makes every stage's output atomic.

A writer's temporary folder holds a lock file that the writer keeps locked while it lives, so a
second writer of the same folder can tell a live partial folder (left alone) from one whose
writer was killed (removed). The finished folder replaces the old one with one ``renameat2``
exchange on Linux; elsewhere with two renames, and a kill between those is repaired by the next
writer or reader (``recover``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

_WRITER_LOCK = ".writer.lock"
# A partial folder younger than this may be between its creation and its lock: never removed.
_GRACE_SECONDS = 60.0
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def partial_prefix(name: str) -> str:
    return f".{name}.partial-"


@contextlib.contextmanager
def private_folder(parent: Path, name: str) -> Iterator[Path]:
    """A new temporary folder for ``parent/name``, locked by this writer until the block ends."""
    parent.mkdir(parents=True, exist_ok=True)
    remove_dead_partials(parent, name)
    folder = Path(tempfile.mkdtemp(prefix=partial_prefix(name), dir=parent))
    with open(folder / _WRITER_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def remove_dead_partials(parent: Path, name: str) -> None:
    """Remove the partial folders of ``name`` whose writers are gone (killed, lost); keep live ones."""
    recover(parent / name)
    for folder in parent.glob(partial_prefix(name) + "*"):
        if _writer_is_dead(folder):
            shutil.rmtree(folder, ignore_errors=True)


def _writer_is_dead(folder: Path) -> bool:
    try:
        handle = open(folder / _WRITER_LOCK)  # noqa: SIM115  (held only for the probe below)
    except FileNotFoundError:
        try:
            return time.time() - folder.stat().st_mtime > _GRACE_SECONDS
        except FileNotFoundError:
            return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def swap_in(new: Path, final: Path) -> None:
    """Make ``new`` (finished) be ``final``, replacing what was there, in one step where possible."""
    (new / _WRITER_LOCK).unlink(missing_ok=True)
    if final.exists() and _exchange(new, final):
        shutil.rmtree(new, ignore_errors=True)  # now the old content
        return
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


def recover(final: Path) -> None:
    """After a kill between the two renames of ``swap_in``: put the previous folder back."""
    if final.exists():
        for old in final.parent.glob(f".{final.name}.old-*"):
            shutil.rmtree(old, ignore_errors=True)
        return
    olds = sorted(final.parent.glob(f".{final.name}.old-*"), key=lambda path: path.stat().st_mtime)
    if olds:
        with contextlib.suppress(FileNotFoundError, OSError):
            os.rename(olds[-1], final)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(second))
