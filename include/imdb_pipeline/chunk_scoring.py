"""One chunk of reviews scored, and counted into its batch's statistics, from one split into words.

Splitting text into words is the largest cost of scoring raw text, so the statistics (lengths,
out-of-vocabulary words) and a unigram model's rows come from the same split: a word's column
(``Scorer.word_columns``) is the model's vocabulary, and a word without a column of its own (none,
or the shared OOV column) is out of vocabulary. The rows come from the same ``Scorer`` methods
``Scorer.rows`` uses. A bigram model's rows need token ids through its feature table: those reviews
go through ``Scorer.probabilities``.
"""

from __future__ import annotations

import numpy as np

from imdb_pipeline import batch_stats, scorer, text


def score_chunk(model: scorer.Scorer, texts: list[str], stats: batch_stats.BatchStats) -> np.ndarray:
    """P(positive) of each review (float32); the chunk's lengths, words and predictions go into ``stats``."""
    docs = text.split_words(texts)
    if model.features is not None:
        stats.add_texts(docs)
        probabilities = model.probabilities(texts)
    else:
        lengths, columns = model.word_columns(docs)
        stats.add_counts(lengths, int(np.count_nonzero(columns <= text.OOV)))
        probabilities = model.predict(model.rows_of_columns(lengths, columns))
    stats.add_probabilities(probabilities)
    return probabilities
