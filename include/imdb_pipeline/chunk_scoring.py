"""One chunk of reviews scored, and counted into its batch's statistics, from one split into words.

Splitting text into words is the largest cost of scoring raw text, so the statistics (lengths,
out-of-vocabulary words) and a unigram model's rows come from the same split: a word's column
(``Scorer.column_of_word``) is the model's vocabulary, and a word without a column of its own (none,
or the shared OOV column) is out of vocabulary. The rows are those ``Scorer.rows`` builds (a test
compares the probabilities). A bigram model's rows need token ids through its feature table: those
reviews go through ``Scorer.probabilities``.
"""

from __future__ import annotations

import itertools

import numpy as np

from imdb_pipeline import batch_stats, scorer, text, vectorize


def score_chunk(model: scorer.Scorer, texts: list[str], stats: batch_stats.BatchStats) -> np.ndarray:
    """P(positive) of each review (float32); the chunk's lengths, words and predictions go into ``stats``."""
    from imdb_model.imdb_model_training import predict_probabilities

    docs = text.split_words(texts)
    if model.features is not None:
        stats.add_texts(docs)
        probabilities = model.probabilities(texts)
    else:
        lengths = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        words = itertools.chain.from_iterable(docs)
        columns = np.fromiter(
            map(model.column_of_word.get, words, itertools.repeat(0)),
            dtype=np.int64,
            count=int(lengths.sum()),
        )
        stats.add_counts(lengths, int(np.count_nonzero(columns <= text.OOV)))
        rows = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
        known = columns > 0  # never-seen words are skipped; every review has START
        rows = np.concatenate([rows[known], np.arange(len(docs), dtype=np.int64)])
        columns = np.concatenate([columns[known], np.full(len(docs), text.START, dtype=np.int64)])
        multi_hot = vectorize.multi_hot_from_pairs(
            rows, columns, np.zeros(len(docs), np.uint8), model.num_words
        )
        probabilities = predict_probabilities(
            model.model, multi_hot.indices, multi_hot.indptr, model.num_words, batch_size=scorer.PREDICT_BATCH
        )
    stats.add_probabilities(probabilities)
    return probabilities
