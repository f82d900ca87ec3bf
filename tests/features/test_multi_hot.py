"""multi_hot: sparse rows equal to the book's dense vectorize_sequences; inconsistent rows are refused."""

import numpy as np
import pytest

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.features import ngram_features, tokenizer
from imdb_pipeline.features.multi_hot import MultiHot, check_multi_hot, multi_hot
from imdb_pipeline.features.tokenized import TokenizedSplit


def books_vectorize_sequences(sequences, dimension):
    """DLwP listing 4.3 (3.4 in the first edition), verbatim but for the name."""
    results = np.zeros((len(sequences), dimension))
    for i, sequence in enumerate(sequences):
        for j in sequence:
            results[i, j] = 1.0
    return results


def split_of(sequences, labels):
    lengths = np.array([len(s) for s in sequences])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return TokenizedSplit(np.concatenate(sequences).astype(np.int32), offsets, np.array(labels, np.uint8))


def test_multi_hot_equals_the_books_dense_vectors_with_oov_folding():
    sequences = [[1, 4, 4, 9, 12], [1, 5], [1, 30, 31, 4]]
    matrix = multi_hot(split_of(sequences, [1, 0, 1]), num_words=10)
    folded = [[t if t < 10 else tokenizer.OOV for t in s] for s in sequences]
    np.testing.assert_array_equal(matrix.matrix().toarray(), books_vectorize_sequences(folded, 10))
    assert matrix.indices.dtype == np.uint16 and matrix.matrix().dtype == np.float32


def test_row_slices_are_the_rows_of_the_whole_matrix():
    sequences = [[1, 4], [1, 5, 6], [1, 7], [1, 4, 8]]
    matrix = multi_hot(split_of(sequences, [0, 1, 0, 1]), num_words=10)
    np.testing.assert_array_equal(matrix.matrix(slice(1, 3)).toarray(), matrix.matrix().toarray()[1:3])


def test_multi_hot_in_chunks_equals_one_pass(monkeypatch):
    rng = np.random.default_rng(1)
    sequences = [[1, *rng.integers(3, 60, rng.integers(0, 12))] for _ in range(53)]
    split = split_of(sequences, [i % 2 for i in range(53)])
    whole = multi_hot(split, num_words=40)
    monkeypatch.setattr(ngram_features, "CHUNK_REVIEWS", 10)
    chunked = multi_hot(split, num_words=40)
    np.testing.assert_array_equal(chunked.indptr, whole.indptr)
    np.testing.assert_array_equal(chunked.indices, whole.indices)


@pytest.mark.parametrize("ngrams", [1, 2])
@pytest.mark.parametrize("count", [0, 1, 3])
def test_any_number_of_reviews_gives_that_many_rows(ngrams, count, monkeypatch):
    """No reviews (predict's empty batch), one, and a last chunk smaller than the others."""
    monkeypatch.setattr(ngram_features, "CHUNK_REVIEWS", 2)
    sequences = [[1, 3, 4, 12], [1, 5], [1, 4, 3, 4]][:count]
    table = (
        ngram_features.FeatureTable(np.array([3, 4, 3 * 20 + 4]), id_bound=20, num_words=10)
        if ngrams == 2
        else None
    )
    split = TokenizedSplit(
        np.array([t for s in sequences for t in s], np.int32),
        np.cumsum([0] + [len(s) for s in sequences]),
        np.zeros(count, np.uint8),
    )
    matrix = multi_hot(split, 10, table)
    assert len(matrix) == count and matrix.matrix().shape == (count, 10)
    assert matrix.indptr.tolist()[:1] == [0] and len(matrix.indptr) == count + 1
    assert matrix.indices.dtype == np.uint16
    if count:
        assert matrix.matrix()[0].nonzero()[1].tolist() == ([1, 2, 3, 4, 5] if ngrams == 2 else [1, 2, 3, 4])


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (
            MultiHot(np.array([1, 2]), np.array([0, 1, 2]), np.array([0, 1, 1], np.uint8), 10),
            "2 rows but 3 labels",
        ),
        (MultiHot(np.array([1, 2]), np.array([0, 1, 3]), np.array([0, 1], np.uint8), 10), "do not span"),
        (MultiHot(np.array([1, 2]), np.array([0, 2, 1, 2]), np.array([0, 1, 1], np.uint8), 10), "backwards"),
        (
            MultiHot(np.array([1, 12]), np.array([0, 1, 2]), np.array([0, 1], np.uint8), 10),
            "column id 12 >= ",
        ),
        (
            MultiHot(np.array([1, 2]), np.array([0, 1, 2]), np.array([0, 7], np.uint8), 10),
            "labels other than",
        ),
    ],
)
def test_inconsistent_vectorized_rows_are_refused(data, problem):
    with pytest.raises(PipelineInputError, match=f"the rows is inconsistent: .*{problem}"):
        check_multi_hot(data, "the rows")
