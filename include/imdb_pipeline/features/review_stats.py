"""Statistics of a batch of reviews, the same for the data a model was trained on and for what it scores.

A review's length is its number of words as the tokenizer splits them (``text.split_words``); a
word is *out of vocabulary* when the model has no column of its own for it (never seen in training,
or ranked beyond ``num_words``); the positive rate is the share of labels (training) or predictions
(scoring) that are positive. Lengths are kept as a bounded, evenly spaced sample for the drift test,
so a batch of any size costs the same memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.features import tokenized, tokenizer
from imdb_pipeline.features.tokenized import TokenizedSplit
from imdb_pipeline.store import artifacts

DATA_STATS = "data_stats.json"  # the training statistics saved beside a model
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


class BatchStats:
    """Accumulates a scoring batch's statistics chunk by chunk."""

    def __init__(self) -> None:
        self.rows = 0
        self.words = 0
        self.oov_words = 0
        self.positive = 0
        self.probability_sum = 0.0
        self.lengths = LengthSample()

    def add_counts(self, lengths: np.ndarray, oov_words: int) -> None:
        """Reviews of these lengths (in words), ``oov_words`` of their words out of vocabulary."""
        self.rows += len(lengths)
        self.words += int(lengths.sum())
        self.oov_words += oov_words
        self.lengths.add(lengths)

    def add_probabilities(self, probabilities: np.ndarray) -> None:
        self.positive += int(np.count_nonzero(probabilities >= 0.5))
        self.probability_sum += float(np.sum(probabilities, dtype=np.float64))

    def summary(self) -> dict[str, Any]:
        rows = max(self.rows, 1)
        return {
            "rows": self.rows,
            "words": self.words,
            "oov_share": round(self.oov_words / max(self.words, 1), 6),
            "positive_rate": round(self.positive / rows, 6),
            "mean_probability": round(self.probability_sum / rows, 6),
            "length": length_summary(self.lengths.values()),
        }


def training_statistics(split: TokenizedSplit, num_words: int) -> dict[str, Any]:
    """The statistics of ingest's training split, saved with the model (``DATA_STATS``) as the drift
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


def training_reference(folder: Path, info: dict[str, Any], num_words: int) -> dict[str, Any] | None:
    """The champion's training statistics: saved with the model, else computed from its training run's
    ingest output while that run folder is kept (checksums verified); None when neither exists."""
    saved = folder / DATA_STATS
    if saved.is_file():
        return artifacts.read_json(saved)
    if not info.get("run_dir"):
        return None
    try:
        ingested = artifacts.read_stage(Path(info["run_dir"]), "ingest")
        split = tokenized.load_split(ingested["train_tokens"])
    except (PipelineInputError, OSError, KeyError, ValueError):
        return None
    return training_statistics(split, num_words)
