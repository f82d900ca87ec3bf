"""The worker's own copy of what it reads from a bucket: stage folders mirrored by manifest checksum.

A stage folder in object storage never changes once its manifest is written (a rerun writes new
files under a new attempt and a new manifest), so a local mirror named by the manifest's sha256 is
reused by every later task on this worker without reading the bucket again. The mirror holds the
manifest beside the files, so it is verified exactly as a local stage folder is. The cache is
bounded (``IMDB_LOCAL_CACHE_BYTES``): the least recently used mirrors go first, never one used in
the last ``GRACE_SECONDS`` (a task may be about to open it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imdb_pipeline.store.object_store import ObjectPath

CACHE_ENV = "IMDB_LOCAL_CACHE"
LIMIT_ENV = "IMDB_LOCAL_CACHE_BYTES"
DEFAULT_LIMIT = 8 << 30  # the real data's largest run keeps well under this (docs/performance.md)
GRACE_SECONDS = 15 * 60
MANIFEST = "manifest.json"


def cache_root() -> Path:
    """``IMDB_LOCAL_CACHE``, else ``$XDG_CACHE_HOME/imdb-sentiment`` (``~/.cache/imdb-sentiment``)."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "imdb-sentiment"


ABANDONED_SECONDS = 24 * 3600  # a stage still writing after a day was killed with its worker


def work_dir() -> Path:
    """Where a stage writes before its upload: on the mirrors' file system, so a finished stage
    becomes its own mirror with one rename. Folders of writers killed long ago are removed."""
    folder = cache_root() / "work"
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for entry in folder.iterdir():
        with contextlib.suppress(OSError):
            if now - entry.stat().st_mtime > ABANDONED_SECONDS:
                shutil.rmtree(entry, ignore_errors=True)
    return folder


def downloads_dir() -> Path:
    """Downloaded datasets when the artifact root is a bucket (the run folders hold no data)."""
    folder = cache_root() / "downloads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def mirror_dir(manifest_bytes: bytes) -> Path:
    return cache_root() / "stages" / hashlib.sha256(manifest_bytes).hexdigest()


def adopt(folder: Path, manifest_bytes: bytes) -> Path:
    """Make a just-uploaded stage folder the mirror of its manifest (or drop it if one exists)."""
    mirror = mirror_dir(manifest_bytes)
    mirror.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(folder, mirror)
    except OSError:  # already mirrored (another task) or another file system: keep the existing one
        shutil.rmtree(folder, ignore_errors=True)
    _touch(mirror)
    trim()
    return mirror


def fetch(remote_folder: ObjectPath, manifest_bytes: bytes, filenames: list[str]) -> Path:
    """The local mirror of a stage folder holding at least ``filenames``, downloading what is missing
    (to a temporary name, then renamed: a reader never sees half a file)."""
    mirror = mirror_dir(manifest_bytes)
    mirror.mkdir(parents=True, exist_ok=True)
    if not (mirror / MANIFEST).is_file():
        _write_new(mirror / MANIFEST, lambda tmp: tmp.write_bytes(manifest_bytes))
    store = remote_folder.store
    for name in filenames:
        if not (mirror / name).is_file():
            _write_new(mirror / name, lambda tmp, name=name: store.download(remote_folder / name, tmp))
    _touch(mirror)
    trim()
    return mirror


def forget(mirror: Path) -> None:
    """Drop a mirror that failed its checksums (it is fetched again)."""
    shutil.rmtree(mirror, ignore_errors=True)


def _write_new(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _touch(mirror: Path) -> None:
    with contextlib.suppress(OSError):
        os.utime(mirror)


def trim(limit: int | None = None) -> None:
    """Remove least recently used mirrors until the cache fits ``limit`` bytes."""
    if limit is None:
        limit = int(os.environ.get(LIMIT_ENV) or DEFAULT_LIMIT)
    stages = cache_root() / "stages"
    if not stages.is_dir():
        return
    sized = []
    for mirror in stages.iterdir():
        with contextlib.suppress(OSError):
            size = sum(entry.stat().st_size for entry in mirror.iterdir())
            sized.append((mirror.stat().st_mtime, size, mirror))
    total = sum(size for _, size, _ in sized)
    now = time.time()
    for used, size, mirror in sorted(sized, key=lambda item: item[0]):
        if total <= limit:
            break
        if now - used > GRACE_SECONDS:
            shutil.rmtree(mirror, ignore_errors=True)
            total -= size
