"""Reading the labeled reviews of an extracted aclImdb folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from imdb_pipeline.aclimdb_layout import LABELS, SPLITS, Review
from imdb_pipeline.errors import PipelineInputError


def dataset_dir(path: Path) -> Path:
    """The folder holding train/ and test/: ``path`` itself or its ``aclImdb`` child."""
    for candidate in (path, path / "aclImdb"):
        if (candidate / "train").is_dir() or (candidate / "test").is_dir():
            return candidate
    raise PipelineInputError(
        f"{path} has no train/ or test/ folder: point data_path at the aclImdb folder "
        "(the one holding train/pos, train/neg, test/pos, test/neg)."
    )


def iter_directory(path: Path) -> Iterator[Review]:
    """The folder's reviews, split by split and class by class, files in name order."""
    root = dataset_dir(path)
    for split in SPLITS:
        for label_name, label in LABELS.items():
            folder = root / split / label_name
            if not folder.is_dir():
                continue
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if entry.name.endswith(".txt") and entry.is_file(follow_symlinks=False):
                    with open(entry.path, "rb") as handle:
                        yield Review(split, label, f"{split}/{label_name}/{entry.name}", handle.read())
