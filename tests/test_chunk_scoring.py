"""chunk_scoring: one split into words gives the scorer's own probabilities and the batch's statistics."""

import numpy as np
import pytest
from scoring_support import reviews

from imdb_pipeline import batch_stats, chunk_scoring, text
from imdb_pipeline.scorer import Scorer

pytestmark = pytest.mark.slow


def test_probabilities_and_statistics_match_the_scorer_and_the_word_sets(tiny_run):
    model = Scorer(tiny_run["outputs"]["train"]["model"])
    texts = [*reviews(300), "zorblax quux", "A <br />film!", "the"]
    vocabulary = batch_stats.vocabulary(model.word_rank, model.num_words)
    fast = batch_stats.BatchStats(vocabulary)
    probabilities = chunk_scoring.score_chunk(model, texts, fast)
    np.testing.assert_allclose(probabilities, model.probabilities(texts), rtol=1e-6)

    by_sets = batch_stats.BatchStats(vocabulary)
    by_sets.add_texts(text.split_words(texts))
    by_sets.add_probabilities(model.probabilities(texts))
    assert fast.summary() == by_sets.summary()
    assert 0 < fast.summary()["oov_share"] < 1
