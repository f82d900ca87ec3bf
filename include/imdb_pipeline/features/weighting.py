"""Per-column input weights of a ``weighting``, fitted on the rows a model trains on.

``binary`` (the book) has none. ``tfidf``: the smoothed inverse document frequency
``log((1 + n) / (1 + df)) + 1`` (the model then scales each row to unit length). ``nb``: the
Naive-Bayes log-count ratio of NBSVM (Wang & Manning 2012), ``log((p / |p|) / (q / |q|))`` with
``p``, ``q`` = 1 + each column's count in the positive, negative rows. Train fits them on the rows of
each fit (never the validation rows), and they are saved inside the model.
"""

from __future__ import annotations

import numpy as np

from imdb_pipeline.features.multi_hot import MultiHot

NB_SMOOTHING = 1.0  # NBSVM's alpha


# Rows counted at a time: bounds the temporaries whatever the number of rows and columns.
CHUNK_ROWS = 2000


def column_counts(data: MultiHot, rows: slice, label: int | None = None) -> np.ndarray:
    """How many of the rows (of one label, if given) hold each column (float64)."""
    start, stop, _ = rows.indices(len(data))
    counts = np.zeros(data.num_words, np.int64)
    for first in range(start, stop, CHUNK_ROWS):
        last = min(first + CHUNK_ROWS, stop)
        pointers = data.indptr[first : last + 1]
        columns = data.indices[pointers[0] : pointers[-1]]
        if label is not None:
            columns = columns[np.repeat(data.labels[first:last] == label, np.diff(pointers))]
        counts += np.bincount(columns, minlength=data.num_words)
    return counts.astype(np.float64)


def column_weights(data: MultiHot, rows: slice, weighting: str) -> np.ndarray | None:
    """float32 weights, one per column, of ``weighting`` over ``data[rows]``; None for binary."""
    if weighting == "binary":
        return None
    if weighting == "tfidf":
        reviews = len(range(*rows.indices(len(data))))
        return (np.log((1 + reviews) / (1 + column_counts(data, rows))) + 1).astype(np.float32)
    if weighting == "nb":
        positive = NB_SMOOTHING + column_counts(data, rows, 1)
        negative = NB_SMOOTHING + column_counts(data, rows, 0)
        return np.log((positive / positive.sum()) / (negative / negative.sum())).astype(np.float32)
    raise ValueError(f"unknown weighting {weighting!r}")
