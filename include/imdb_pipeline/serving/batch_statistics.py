"""A scored batch's statistics, counted chunk by chunk, and the champion's training statistics to compare.

The figures are those ``features.review_stats`` computes for the training data (lengths in words,
out-of-vocabulary share, positive rate), so ``drift`` compares like with like.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from imdb_model.spec import DECISION_THRESHOLD
from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.features import tokenized
from imdb_pipeline.features.review_stats import LengthSample, length_summary, training_statistics
from imdb_pipeline.store import artifacts
from imdb_pipeline.store.model_store import MODEL_FILES


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
        self.positive += int(np.count_nonzero(probabilities >= DECISION_THRESHOLD))
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


def training_reference(folder: Path, info: dict[str, Any], num_words: int) -> dict[str, Any] | None:
    """The champion's training statistics: saved with the model, else computed from its training run's
    ingest output while that run folder is kept (checksums verified); None when neither exists."""
    saved = folder / MODEL_FILES["data_stats"]
    if saved.is_file():
        return artifacts.read_json(saved)
    if not info.get("run_dir"):
        return None
    try:
        ingested = artifacts.read_stage(artifacts.location(info["run_dir"]), "ingest")
        split = tokenized.load_split(ingested["train_tokens"])
    except (PipelineInputError, OSError, KeyError, ValueError):
        return None
    return training_statistics(split, num_words)
