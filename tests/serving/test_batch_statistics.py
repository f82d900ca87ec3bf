"""batch_statistics: a scored batch counted chunk by chunk into the figures of the training statistics."""

import numpy as np

from imdb_pipeline.serving.batch_statistics import BatchStats


def test_batch_statistics_count_words_oov_and_predictions():
    stats = BatchStats()
    stats.add_counts(np.array([2, 5]), oov_words=2)  # "good film", "a zorblax film good good"
    stats.add_probabilities(np.array([0.9, 0.2], dtype=np.float32))
    summary = stats.summary()
    assert (summary["rows"], summary["words"]) == (2, 7)
    assert summary["oov_share"] == round(2 / 7, 6)
    assert summary["positive_rate"] == 0.5 and abs(summary["mean_probability"] - 0.55) < 1e-6
    assert summary["length"]["p50"] == 3.5 and summary["length"]["max_sampled"] == 5
