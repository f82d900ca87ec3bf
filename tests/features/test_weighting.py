"""weighting: tf-idf and Naive-Bayes column weights, from the rows a model trains on only."""

import numpy as np
import pytest

from imdb_pipeline.features import weighting
from imdb_pipeline.features.multi_hot import MultiHot

# Five reviews over 6 columns: column 3 only in positive reviews, 4 only in negative ones.
ROWS = [[1, 3, 5], [1, 3], [1, 4, 5], [1, 4], [1, 2, 3]]
LABELS = [1, 1, 0, 0, 1]


def multi_hot(rows=ROWS, labels=LABELS, num_words=6) -> MultiHot:
    indptr = np.concatenate([[0], np.cumsum([len(row) for row in rows])]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.uint16)
    return MultiHot(indices, indptr, np.array(labels, np.uint8), num_words)


def dense(data: MultiHot) -> np.ndarray:
    return data.matrix().toarray()


def test_binary_has_no_weights():
    assert weighting.column_weights(multi_hot(), slice(None), "binary") is None


def test_nb_weights_are_nbsvms_log_count_ratios():
    x, y = dense(multi_hot()), np.array(LABELS)
    p, q = 1 + x[y == 1].sum(0), 1 + x[y == 0].sum(0)
    expected = np.log((p / p.sum()) / (q / q.sum()))
    got = weighting.column_weights(multi_hot(), slice(None), "nb")
    assert got.dtype == np.float32 and got.shape == (6,)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert got[3] > 0 > got[4]  # a positive word, a negative word


def test_tfidf_weights_are_smoothed_inverse_document_frequencies():
    x = dense(multi_hot())
    expected = np.log((1 + 5) / (1 + x.sum(0))) + 1
    np.testing.assert_allclose(
        weighting.column_weights(multi_hot(), slice(None), "tfidf"), expected, rtol=1e-6
    )


@pytest.mark.parametrize("kind", ["nb", "tfidf"])
def test_weights_come_from_the_given_rows_only(kind):
    """Train fits them on the rows it trains on: the validation rows (first) must not count."""
    data = multi_hot()
    rest = multi_hot(ROWS[2:], LABELS[2:])
    np.testing.assert_array_equal(
        weighting.column_weights(data, slice(2, None), kind),
        weighting.column_weights(rest, slice(None), kind),
    )
    assert not np.array_equal(
        weighting.column_weights(data, slice(2, None), kind),
        weighting.column_weights(data, slice(None), kind),
    )


def test_counts_in_chunks_equal_one_pass(monkeypatch):
    rng = np.random.default_rng(0)
    rows = [sorted(set(rng.integers(0, 50, 12).tolist())) for _ in range(101)]
    data = multi_hot(rows, rng.integers(0, 2, 101).tolist(), 50)
    whole = weighting.column_weights(data, slice(7, None), "nb")
    monkeypatch.setattr(weighting, "CHUNK_ROWS", 3)
    np.testing.assert_array_equal(weighting.column_weights(data, slice(7, None), "nb"), whole)
