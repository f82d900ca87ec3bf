"""Reading the labeled reviews of an extracted aclImdb folder.

Every review is a regular file inside the dataset (a symbolic link may point within it, never
out of it), and sizes and counts are checked against the limits before anything is read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.core.files import open_regular_file
from imdb_pipeline.data.aclimdb_layout import LABELS, SPLITS, Review
from imdb_pipeline.data.input_limits import InputLimits


def dataset_dir(path: Path) -> Path:
    """The folder holding train/ and test/: ``path`` itself or its ``aclImdb`` child."""
    for candidate in (path, path / "aclImdb"):
        if (candidate / "train").is_dir() or (candidate / "test").is_dir():
            return candidate
    raise PipelineInputError(
        f"{path} has no train/ or test/ folder: point data_path at the aclImdb folder "
        "(the one holding train/pos, train/neg, test/pos, test/neg)."
    )


def _inside(root: str, path: str) -> bool:
    return os.path.realpath(path).startswith(root + os.sep)


def _outside_error(path: str) -> PipelineInputError:
    return PipelineInputError(
        f"{path} is a symbolic link to {os.path.realpath(path)}, outside the dataset: refusing it. "
        "Copy the reviews into the aclImdb folder."
    )


def _entries(folder: Path, seen: int, limits: InputLimits) -> list[os.DirEntry]:
    """The folder's entries in name order, counted (with ``seen`` before them) against the limit."""
    entries = []
    with os.scandir(folder) as listing:
        for entry in listing:
            entries.append(entry)
            limits.check(folder, "members", seen + len(entries), "the number of files in the review folders")
    return sorted(entries, key=lambda e: e.name)


def iter_directory(path: Path, limits: InputLimits) -> Iterator[Review]:
    """The folder's reviews, split by split and class by class, files in name order."""
    root = dataset_dir(path)
    real_root = os.path.realpath(root)
    seen = total = 0
    for split in SPLITS:
        for label_name, label in LABELS.items():
            folder = root / split / label_name
            if not folder.is_dir():
                continue
            if not _inside(real_root, str(folder)):
                raise _outside_error(str(folder))
            entries = _entries(folder, seen, limits)
            seen += len(entries)
            for entry in entries:
                if not entry.name.endswith(".txt"):
                    continue
                if entry.is_symlink() and not _inside(real_root, entry.path):
                    raise _outside_error(entry.path)
                with open_regular_file(entry.path) as handle:
                    raw = handle.read(limits.review_bytes + 1)
                limits.check(entry.path, "review_bytes", len(raw), "the review")
                total += len(raw)
                limits.check(root, "data_bytes", total, "the reviews' total size")
                yield Review(split, label, f"{split}/{label_name}/{entry.name}", raw)
