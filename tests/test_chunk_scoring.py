"""chunk_scoring: one split into words gives the scorer's own probabilities and the batch's statistics."""

import numpy as np
import pytest
from scoring_support import reviews

from imdb_pipeline.features import review_stats, tokenizer
from imdb_pipeline.serving import chunk_scoring
from imdb_pipeline.serving.scorer import Scorer

pytestmark = pytest.mark.slow


def test_probabilities_and_statistics_match_the_scorer_and_the_word_sets(tiny_run):
    model = Scorer(tiny_run["outputs"]["train"]["model"])
    texts = [*reviews(300), "zorblax quux", "A <br />film!", "the"]
    fast = review_stats.BatchStats()
    probabilities = chunk_scoring.score_chunk(model, texts, fast)
    np.testing.assert_allclose(probabilities, model.probabilities(texts), rtol=1e-6)

    # The same statistics from the words themselves: a word is in the model's vocabulary when it has a
    # column of its own (rank + INDEX_FROM < num_words).
    vocabulary = {
        word for word, rank in model.word_rank.items() if rank + tokenizer.INDEX_FROM < model.num_words
    }
    docs = tokenizer.split_words(texts)
    by_sets = review_stats.BatchStats()
    lengths = np.array([len(doc) for doc in docs])
    by_sets.add_counts(lengths, sum(word not in vocabulary for doc in docs for word in doc))
    by_sets.add_probabilities(model.probabilities(texts))
    assert fast.summary() == by_sets.summary()
    assert 0 < fast.summary()["oov_share"] < 1
