"""An inbox in a bucket (``<root>/inbox/`` on an object-storage root): its objects, each received
once into the worker's private folder and then scored exactly like a local file.

An object store has no links, FIFOs or devices; what can be wrong with an entry is its size (over
the data limit: never downloaded), its name (longer than a local file name) or a "folder" (a prefix
named like a batch). Each object is read once, its ETag taken before the read, so that setting it
aside later deletes it only if it is still the object that was judged.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from imdb_pipeline.data.input_limits import InputLimits
from imdb_pipeline.serving.inbox import SUFFIXES, QuarantineError
from imdb_pipeline.store.artifacts import printable
from imdb_pipeline.store.object_store import ObjectPath

_LOCAL_NAME_BYTES = 255


@dataclasses.dataclass(frozen=True)
class BucketEntry:
    """An inbox object as listed: where it is, its ETag and size (``kind`` "folder" for a prefix)."""

    source: ObjectPath
    etag: str
    size: int
    kind: str
    modified: str

    @property
    def name(self) -> str:
        return printable(self.source.name)


def entries(folder: ObjectPath) -> list[BucketEntry]:
    """The inbox's ``.txt``/``.jsonl`` objects (and prefixes named so), oldest first, then by name;
    hidden names (uploads in progress by convention) and other suffixes are not batches."""
    try:
        listed = folder.store.fs.ls(folder.key, detail=True, refresh=True)
    except FileNotFoundError:
        return []
    found = []
    for info in listed:
        name = info["name"].rstrip("/").rsplit("/", 1)[-1]
        if name.startswith(".") or not name.endswith(SUFFIXES):
            continue
        kind = "folder" if info.get("type") == "directory" else "regular file"
        found.append(
            BucketEntry(
                folder / name,
                info.get("ETag", ""),
                int(info.get("size") or 0),
                kind,
                str(info.get("LastModified")),
            )
        )
    return sorted(found, key=lambda entry: (entry.modified, entry.source.name))


def receive(entry: BucketEntry, into: Path, limits: InputLimits | None = None) -> Path:
    """Download the object once into ``into/<its name>``; a too-large object or a name no local file
    can have is a ``QuarantineError`` (the object is never downloaded)."""
    limits = limits or InputLimits.from_env()
    if entry.size > limits.data_bytes:
        raise QuarantineError(
            f"{entry.name} holds {entry.size:,} bytes, over the {limits.data_bytes:,}-byte data limit "
            "(IMDB_MAX_DATA_BYTES): split it into smaller files."
        )
    if len(os.fsencode(entry.source.name)) > _LOCAL_NAME_BYTES:
        raise QuarantineError(f"{entry.name} has a name longer than {_LOCAL_NAME_BYTES} bytes: rename it.")
    local = into / entry.source.name
    entry.source.store.download(entry.source, local)
    return local
