"""Vectorize: sparse multi-hot rows equal to the book's dense vectorize_sequences, never dense on disk."""

import numpy as np
import pytest

from imdb_pipeline import ingest, text, vectorize
from imdb_pipeline.errors import PipelineInputError
from imdb_pipeline.pipeline import run_stage


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
    return ingest.TokenizedSplit(
        np.concatenate(sequences).astype(np.int32), offsets, np.array(labels, np.uint8)
    )


def test_multi_hot_equals_the_books_dense_vectors_with_oov_folding():
    sequences = [[1, 4, 4, 9, 12], [1, 5], [1, 30, 31, 4]]
    matrix = vectorize.multi_hot(split_of(sequences, [1, 0, 1]), num_words=10)
    folded = [[t if t < 10 else text.OOV for t in s] for s in sequences]
    np.testing.assert_array_equal(matrix.matrix().toarray(), books_vectorize_sequences(folded, 10))
    assert matrix.indices.dtype == np.uint16 and matrix.matrix().dtype == np.float32


def test_row_slices_are_the_rows_of_the_whole_matrix():
    sequences = [[1, 4], [1, 5, 6], [1, 7], [1, 4, 8]]
    matrix = vectorize.multi_hot(split_of(sequences, [0, 1, 0, 1]), num_words=10)
    np.testing.assert_array_equal(matrix.matrix(slice(1, 3)).toarray(), matrix.matrix().toarray()[1:3])


def test_shuffled_keeps_each_review_with_its_label():
    sequences = [[1, 10 + i] * (i + 1) for i in range(20)]
    original = split_of(sequences, [i % 2 for i in range(20)])
    mixed = vectorize.shuffled(original, seed=3)
    pairs = {tuple(mixed.tokens[mixed.offsets[i] : mixed.offsets[i + 1]]): mixed.labels[i] for i in range(20)}
    assert pairs == {tuple(s): i % 2 for i, s in enumerate(sequences)}
    assert not np.array_equal(mixed.labels, original.labels)


def test_stage_shuffles_train_with_the_seed_and_keeps_test_order(tiny_aclimdb_dir, tmp_path, artifact_root):
    params = {"data_path": str(tiny_aclimdb_dir), "num_words": 40, "validation_size": 40, "seed": 1}
    run_stage("ingest", params, tmp_path)
    first = vectorize.load_multi_hot(run_stage("vectorize", params, tmp_path)["train_multi_hot"])
    again = vectorize.load_multi_hot(run_stage("vectorize", params, tmp_path)["train_multi_hot"])
    other = vectorize.load_multi_hot(
        run_stage("vectorize", {**params, "seed": 2}, tmp_path)["train_multi_hot"]
    )
    np.testing.assert_array_equal(first.labels, again.labels)
    assert not np.array_equal(first.labels, other.labels)
    assert 10 < first.labels[:40].sum() < 30  # the validation rows mix both classes
    test = vectorize.load_multi_hot(tmp_path / "vectorize" / "test.npz")
    assert test.labels[:60].sum() == 0 and test.labels[60:].all()  # neg/ then pos/, as ingested


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"validation_size": 120}, "leaves no training reviews"),
        ({"num_words": 100000}, "larger than the vocabulary"),
    ],
)
def test_sizes_that_cannot_work_are_refused(tiny_aclimdb_dir, tmp_path, artifact_root, params, message):
    base = {"data_path": str(tiny_aclimdb_dir), "num_words": 40, "validation_size": 40}
    run_stage("ingest", base, tmp_path)
    with pytest.raises(PipelineInputError, match=message):
        run_stage("vectorize", {**base, **params}, tmp_path)
    assert not (tmp_path / "vectorize").exists()


def test_sorted_unique_equals_numpy_unique():
    values = np.random.default_rng(0).integers(0, 50, 1000)
    np.testing.assert_array_equal(vectorize.sorted_unique(values), np.unique(values))
    assert vectorize.sorted_unique(np.array([], dtype=np.int64)).size == 0


def test_multi_hot_in_chunks_equals_one_pass(monkeypatch):
    rng = np.random.default_rng(1)
    sequences = [[1, *rng.integers(3, 60, rng.integers(0, 12))] for _ in range(53)]
    split = split_of(sequences, [i % 2 for i in range(53)])
    whole = vectorize.multi_hot(split, num_words=40)
    monkeypatch.setattr(vectorize, "CHUNK_REVIEWS", 10)
    chunked = vectorize.multi_hot(split, num_words=40)
    np.testing.assert_array_equal(chunked.indptr, whole.indptr)
    np.testing.assert_array_equal(chunked.indices, whole.indices)


def bigram_reference(sequences, num_words, id_bound):
    """Uni+bigram features by hand: document frequency over the reviews, top num_words - 3."""
    frequency = {}
    for sequence in sequences:
        words = [t for t in sequence if t >= text.INDEX_FROM]
        keys = set(words) | {a * id_bound + b for a, b in zip(sequence, sequence[1:]) if a >= 3 and b >= 3}
        for key in keys:
            frequency[key] = frequency.get(key, 0) + 1
    ranked = sorted(frequency, key=lambda key: (-frequency[key], key))[: num_words - text.INDEX_FROM]
    return sorted(ranked)


def test_bigram_features_are_the_most_frequent_words_and_pairs():
    sequences = [[1, 3, 4, 5], [1, 3, 4], [1, 4, 3, 4], [1, 6, 7]]
    table = vectorize.FeatureTable.fit(split_of(sequences, [1, 0, 1, 0]), num_words=7, id_bound=10)
    assert table.keys.tolist() == bigram_reference(sequences, 7, 10)
    assert 3 * 10 + 4 in table.keys  # "3 4" is in three reviews


def test_bigram_rows_hold_start_known_words_oov_and_known_pairs():
    sequences = [[1, 3, 4, 5], [1, 3, 4], [1, 4, 3, 4], [1, 6, 7]]
    split = split_of(sequences, [1, 0, 1, 0])
    table = vectorize.FeatureTable.fit(split, num_words=7, id_bound=10)
    matrix = vectorize.multi_hot(split, 7, table).matrix().toarray()
    column = {int(key): position + text.INDEX_FROM for position, key in enumerate(table.keys)}
    for row, sequence in zip(matrix, sequences):
        expected = {text.START}
        expected |= {column.get(t, text.OOV) for t in sequence[1:]}
        expected |= {column[a * 10 + b] for a, b in zip(sequence[1:], sequence[2:]) if a * 10 + b in column}
        assert set(np.flatnonzero(row)) == expected, sequence


def test_bigram_features_in_chunks_equal_one_pass(monkeypatch):
    rng = np.random.default_rng(3)
    sequences = [[1, *rng.integers(3, 40, rng.integers(1, 30))] for _ in range(60)]
    split = split_of(sequences, [0, 1] * 30)
    whole = vectorize.FeatureTable.fit(split, 50, 43)
    monkeypatch.setattr(vectorize, "CHUNK_REVIEWS", 7)
    chunked = vectorize.FeatureTable.fit(split, 50, 43)
    np.testing.assert_array_equal(whole.keys, chunked.keys)
    assert whole.keys.tolist() == bigram_reference(sequences, 50, 43)


def test_bigram_stage_saves_its_feature_table(tiny_aclimdb_dir, tmp_path, artifact_root):
    params = {"data_path": str(tiny_aclimdb_dir), "num_words": 60, "validation_size": 20, "ngrams": 2}
    ingested = run_stage("ingest", params, tmp_path)
    outputs = run_stage("vectorize", params, tmp_path, [ingested])
    table = vectorize.FeatureTable.load(outputs["features"])
    assert len(table.keys) == 60 - text.INDEX_FROM and (table.keys >= table.id_bound).any()
    assert vectorize.load_multi_hot(outputs["train_multi_hot"]).num_words == 60
