"""review_stats: the training data's statistics (drift's reference), lengths sampled in bounded memory."""

import numpy as np

from imdb_pipeline.features import review_stats, tokenizer
from imdb_pipeline.features.tokenized import TokenizedSplit


def test_length_sample_is_bounded_and_evenly_spread():
    sample = review_stats.LengthSample(limit=100)
    for first in range(0, 10_000, 700):  # blocks of uneven size
        sample.add(np.arange(first, min(first + 700, 10_000)))
    values = sample.values()
    assert len(values) <= 200 and sample.seen == 10_000
    assert np.all(values % sample.stride == 0) and values[0] == 0  # every stride-th value
    assert abs(np.median(values) - 5000) < 200


def test_small_batches_keep_every_length():
    sample = review_stats.LengthSample()
    sample.add(np.array([3, 1, 2]))
    assert sample.values().tolist() == [3, 1, 2]


def test_training_statistics_from_ingest_tokens():
    tokens, offsets = tokenizer.with_start_tokens(np.array([4, 5, 20, 4, 30, 31, 6]), np.array([3, 0, 4]))
    split = TokenizedSplit(tokens, offsets, np.array([1, 0, 1], dtype=np.uint8))
    stats = review_stats.training_statistics(split, num_words=10)
    assert (stats["rows"], stats["words"]) == (3, 7)
    assert stats["oov_share"] == round(3 / 7, 6)  # ids 20, 30, 31 are beyond num_words
    assert stats["positive_rate"] == round(2 / 3, 6)
    assert stats["length_sample"] == [3, 0, 4] and stats["num_words"] == 10
