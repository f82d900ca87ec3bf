"""Where the labeled reviews sit in the Large Movie Review Dataset (aclImdb).

``train|test/pos|neg/<id>_<rating>.txt``; ``unsup/`` and the other files are not labeled reviews.
"""

from __future__ import annotations

import re
from typing import NamedTuple

SPLITS = ("train", "test")
LABELS = {"neg": 0, "pos": 1}
_REVIEW_PATH = re.compile(r"(?:^|/)(train|test)/(pos|neg)/[^/]+\.txt$")


class Review(NamedTuple):
    split: str
    label: int
    path: str
    raw: bytes


def split_and_label(name: str) -> tuple[str, int] | None:
    """(split, label) of a labeled review's path inside the dataset, else None."""
    match = _REVIEW_PATH.search(name)
    return (match.group(1), LABELS[match.group(2)]) if match else None
