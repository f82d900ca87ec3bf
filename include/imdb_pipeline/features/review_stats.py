"""Statistics of reviews: those of the data a model was trained on, saved with it as drift's reference.

A review's length is its number of words as the tokenizer splits them (``tokenizer.split_words``); a
word is *out of vocabulary* when the model has no column of its own for it (never seen in training,
or ranked beyond ``num_words``); the positive rate is the share of labels (training) or predictions
(scoring) that are positive. Lengths are kept as a bounded, evenly spaced sample for the drift test,
so a batch of any size costs the same memory. ``serving.batch_statistics`` counts the same figures
for a scored batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from imdb_pipeline.features import tokenizer
from imdb_pipeline.features.tokenized import TokenizedSplit

LENGTH_SAMPLE = 20_000
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


class LengthSample:
    """Every ``stride``-th length seen, at most ``2 * limit`` kept: when full, every other one is
    dropped and the stride doubles, so the sample stays evenly spread over the whole batch."""

    def __init__(self, limit: int = LENGTH_SAMPLE):
        self.limit = limit
        self.stride = 1
        self.seen = 0
        self.parts: list[np.ndarray] = []
        self.kept = 0

    def add(self, lengths: np.ndarray) -> None:
        first = (-self.seen) % self.stride  # the next multiple of the stride within this block
        self.parts.append(np.asarray(lengths[first :: self.stride], dtype=np.int32))
        self.kept += len(self.parts[-1])
        self.seen += len(lengths)
        while self.kept > 2 * self.limit:
            whole = self.values()
            self.parts = [whole[::2]]
            self.kept = len(self.parts[0])
            self.stride *= 2

    def values(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.int32)


def length_summary(sample: np.ndarray) -> dict[str, float]:
    if not len(sample):
        return {}
    values = np.quantile(sample, QUANTILES)
    summary = {f"p{round(q * 100)}": float(v) for q, v in zip(QUANTILES, values, strict=True)}
    return {"mean": round(float(sample.mean()), 2), **summary, "max_sampled": int(sample.max())}


def training_statistics(split: TokenizedSplit, num_words: int) -> dict[str, Any]:
    """The statistics of ingest's training split, saved with the model (``data_stats.json``) as the drift
    reference. Every training word has a rank, so a review's tokens after START are its words."""
    lengths = np.diff(split.offsets) - 1
    words = split.tokens[np.asarray(split.tokens) != tokenizer.START]
    sample = LengthSample()
    sample.add(lengths)
    rows = max(len(split), 1)
    return {
        "rows": len(split),
        "words": len(words),
        "oov_share": round(float(np.count_nonzero(words >= num_words)) / max(len(words), 1), 6),
        "positive_rate": round(float(np.count_nonzero(split.labels == 1)) / rows, 6),
        "length": length_summary(sample.values()),
        "length_sample": sample.values().tolist(),
        "num_words": num_words,
    }
