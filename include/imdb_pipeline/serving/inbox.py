"""The reviews inbox: where it is, which entries wait there, and how their names are printed.

Producers drop ``.txt`` files (one review per line; a review's id is its line number) or ``.jsonl``
files (one JSON object per line with ``id`` and ``text``) into ``IMDB_INBOX`` (default
``<artifact root>/inbox``): written under a hidden name (leading ``.``) or elsewhere on the same file
system, then renamed in. An entry is looked at without following it: a link, FIFO, device or folder
is listed with its kind and never opened here (``inbox_file`` opens regular files, once).
"""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.core.files import file_kind
from imdb_pipeline.store import artifacts, object_store

INBOX_ENV = "IMDB_INBOX"
SUFFIXES = (".txt", ".jsonl")
LINK = "symbolic link"
REGULAR = "regular file"


class QuarantineError(PipelineInputError):
    """This file cannot be scored: it is set aside with the reason, the other files go on."""


class BatchChanged(Exception):
    """The file changed while it was read: its scores are dropped and it waits for the next run."""


def inbox_dir(root: artifacts.Location | None = None) -> artifacts.Location:
    """``IMDB_INBOX`` (a folder or a bucket URL), else ``<artifact root>/inbox``."""
    configured = os.environ.get(INBOX_ENV)
    if configured and object_store.is_url(configured):
        return object_store.parse(configured)
    if configured:
        return Path(configured).expanduser().resolve()
    return (root or artifacts.artifact_root()) / "inbox"


@dataclasses.dataclass(frozen=True)
class Entry:
    """A name in the inbox that looks like a batch, as the folder lists it (never followed)."""

    path: Path
    kind: str  # "regular file", "symbolic link", "FIFO (named pipe)", "folder", ...
    mtime_ns: int

    @property
    def name(self) -> str:
        return artifacts.printable(self.path.name)


def entries(folder: Path) -> list[Entry]:
    """The inbox's ``.txt``/``.jsonl`` entries of any kind, oldest first (then by name); hidden
    names (files still being written) and other suffixes are not batches."""
    found = []
    try:
        listing = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for item in listing:
        if item.name.startswith(".") or not item.name.endswith(SUFFIXES):
            continue
        try:
            info = item.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # moved away while listed
        kind = LINK if stat.S_ISLNK(info.st_mode) else file_kind(info.st_mode)
        found.append(Entry(Path(item.path), kind, info.st_mtime_ns))
    return sorted(found, key=lambda entry: (entry.mtime_ns, os.fsencode(entry.path.name)))
