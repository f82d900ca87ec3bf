"""Tokenized reviews as ingest writes them and later stages read them.

A split is flat int32 ``tokens``, int64 ``offsets`` (review i is ``tokens[offsets[i]:offsets[i+1]]``)
and uint8 ``labels``: about 4 bytes a word, no pickle.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from imdb_pipeline.store import artifacts


@dataclasses.dataclass
class TokenizedSplit:
    tokens: np.ndarray  # int32, flat
    offsets: np.ndarray  # int64, len n + 1
    labels: np.ndarray  # uint8

    def __len__(self) -> int:
        return len(self.labels)


def save_split(path: Path, split: TokenizedSplit) -> None:
    artifacts.save_arrays(path, tokens=split.tokens, offsets=split.offsets, labels=split.labels)


def load_split(path: str | Path) -> TokenizedSplit:
    arrays = artifacts.load_arrays(path)
    return TokenizedSplit(arrays["tokens"], arrays["offsets"], arrays["labels"])
