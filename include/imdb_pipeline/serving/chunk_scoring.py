"""One chunk of reviews scored, and counted into its batch's statistics, from one word lookup.

Finding the words of raw text is the largest cost of scoring it, so the statistics (lengths,
out-of-vocabulary words) and the rows come from the same ranks (``Scorer.words``): a word is out of
vocabulary when the model has no column of its own for it, i.e. it was never seen in training
(rank 0) or its token id is past ``num_words`` (the shared OOV column). The rows come from
``Scorer.rows_of_ranks``, as ``Scorer.rows`` makes them.
"""

from __future__ import annotations

import numpy as np

from imdb_pipeline.features import review_stats, tokenizer
from imdb_pipeline.serving import scorer


def score_chunk(model: scorer.Scorer, texts: list[str], stats: review_stats.BatchStats) -> np.ndarray:
    """P(positive) of each review (float32); the chunk's lengths, words and predictions go into ``stats``."""
    lengths, ranks = model.words.lookup(texts)
    out_of_vocabulary = (ranks == 0) | (ranks + tokenizer.INDEX_FROM >= model.num_words)
    stats.add_counts(lengths, int(np.count_nonzero(out_of_vocabulary)))
    probabilities = model.predict(model.rows_of_ranks(lengths, ranks))
    stats.add_probabilities(probabilities)
    return probabilities
