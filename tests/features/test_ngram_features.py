"""ngram_features: the words and bigrams of a bigram model's columns; a malformed saved table is refused."""

import itertools

import numpy as np
import pytest

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.features import ngram_features, tokenizer
from imdb_pipeline.features.multi_hot import multi_hot
from imdb_pipeline.features.tokenized import TokenizedSplit
from imdb_pipeline.store import artifacts


def split_of(sequences, labels):
    """Reviews given as token ids after START (which the split adds, as ingest does)."""
    tokens, offsets = tokenizer.with_start_tokens(
        np.array([t for s in sequences for t in s], np.int64), np.array([len(s) for s in sequences])
    )
    return TokenizedSplit(tokens, offsets, np.array(labels, np.uint8))


REVIEWS = [[3, 4, 5], [3, 4], [4, 3, 4], [6, 7]]


@pytest.mark.parametrize(
    ("low", "high"),
    [(0, 50), (0, 2**32), (2**32 - 60, 2**32 + 60), (-30, 30), (2**62, 2**62 + 99)],
    ids=["small", "all of uint32", "either side of uint32", "negative", "large"],
)
def test_sorted_unique_equals_numpy_unique(low, high):
    values = np.random.default_rng(0).integers(low, high, 1000, dtype=np.int64)
    got = ngram_features.sorted_unique(values)
    np.testing.assert_array_equal(got, np.unique(values))
    assert got.dtype == np.int64
    assert ngram_features.sorted_unique(np.array([], dtype=np.int64)).size == 0


def bigram_reference(sequences, num_words, id_bound):
    """Uni+bigram features by hand: document frequency over the reviews, top num_words - 3."""
    frequency = {}
    for sequence in sequences:
        keys = set(sequence) | {a * id_bound + b for a, b in itertools.pairwise(sequence)}
        for key in keys:
            frequency[key] = frequency.get(key, 0) + 1
    ranked = sorted(frequency, key=lambda key: (-frequency[key], key))[: num_words - tokenizer.INDEX_FROM]
    return sorted(ranked)


def test_bigram_features_are_the_most_frequent_words_and_pairs():
    table = ngram_features.FeatureTable.fit(split_of(REVIEWS, [1, 0, 1, 0]), num_words=7, id_bound=10)
    assert table.keys.tolist() == bigram_reference(REVIEWS, 7, 10)
    assert 3 * 10 + 4 in table.keys  # "3 4" is in three reviews


def test_bigram_rows_hold_start_known_words_oov_and_known_pairs():
    split = split_of(REVIEWS, [1, 0, 1, 0])
    table = ngram_features.FeatureTable.fit(split, num_words=7, id_bound=10)
    matrix = multi_hot(split, 7, table).matrix().toarray()
    column = {int(key): position + tokenizer.INDEX_FROM for position, key in enumerate(table.keys)}
    for row, sequence in zip(matrix, REVIEWS, strict=True):
        expected = {tokenizer.START} | {column.get(t, tokenizer.OOV) for t in sequence}
        expected |= {column[a * 10 + b] for a, b in itertools.pairwise(sequence) if a * 10 + b in column}
        assert set(np.flatnonzero(row)) == expected, sequence


def test_bigram_features_in_chunks_equal_one_pass(monkeypatch):
    rng = np.random.default_rng(3)
    sequences = [list(rng.integers(3, 40, rng.integers(1, 30))) for _ in range(60)]
    split = split_of(sequences, [0, 1] * 30)
    whole = ngram_features.FeatureTable.fit(split, 50, 43)
    monkeypatch.setattr(ngram_features, "CHUNK_REVIEWS", 7)
    chunked = ngram_features.FeatureTable.fit(split, 50, 43)
    np.testing.assert_array_equal(whole.keys, chunked.keys)
    assert whole.keys.tolist() == bigram_reference(sequences, 50, 43)


def test_a_saved_table_loads_as_it_was(tmp_path):
    table = ngram_features.FeatureTable.fit(split_of(REVIEWS, [1, 0, 1, 0]), num_words=7, id_bound=10)
    table.save(tmp_path / "features.npz")
    loaded = ngram_features.FeatureTable.load(tmp_path / "features.npz")
    np.testing.assert_array_equal(loaded.keys, table.keys)
    assert (loaded.id_bound, loaded.num_words) == (10, 7)


GOOD = {"keys": np.array([3, 4, 34], np.int64), "id_bound": np.int64(10), "num_words": np.int64(7)}


@pytest.mark.parametrize(
    ("arrays", "reason"),
    [
        (None, "BadZipFile"),
        ({**GOOD, "keys": None}, "KeyError"),
        ({**GOOD, "keys": np.array([3.0, 4.0])}, "1-D int64"),
        ({**GOOD, "keys": np.array([[3, 4]], np.int64)}, "1-D int64"),
        ({**GOOD, "id_bound": np.int64(1 << 40)}, "id_bound"),
        ({**GOOD, "keys": np.array([4, 3, 34], np.int64)}, "sorted and distinct"),
        ({**GOOD, "keys": np.array([3, 3, 34], np.int64)}, "sorted and distinct"),
        (
            {**GOOD, "keys": np.array([1, 4, 34], np.int64)},
            "words and runs of 2 to 2 words",
        ),  # START is no feature
        ({**GOOD, "keys": np.array([3, 4, 14], np.int64)}, "words and runs of 2 to 2 words"),  # pair with OOV
        ({**GOOD, "keys": np.array([3, 4, 5, 6, 34], np.int64)}, "at most num_words - 3"),
        ({**GOOD, "keys": np.array([3, 4, 10 * 10 + 3], np.int64)}, "runs of 2 to 2 words"),  # a trigram
        ({**GOOD, "ngrams": np.int64(3), "keys": np.array([3, 4, 3 * 100 + 3], np.int64)}, "runs of 2 to 3"),
        ({**GOOD, "ngrams": np.int64(4)}, "ngrams must be one of"),
    ],
)
def test_a_malformed_table_is_refused_with_one_message(tmp_path, arrays, reason):
    path = tmp_path / "features.npz"
    if arrays is None:
        path.write_bytes(b"PK\x03\x04 not really a zip file")
    else:
        artifacts.save_arrays(path, **{name: value for name, value in arrays.items() if value is not None})
    with pytest.raises(PipelineInputError, match="is not a feature table") as caught:
        ngram_features.FeatureTable.load(path)
    assert reason in str(caught.value) and "rerun vectorize and train" in str(caught.value)


def ngram_reference(sequences, num_words, id_bound, ngrams):
    """Words and runs of up to ``ngrams`` words by hand: document frequency, top num_words - 3."""
    frequency = {}
    for sequence in sequences:
        keys = set()
        for n in range(1, ngrams + 1):
            for start in range(len(sequence) - n + 1):
                key = 0
                for token in sequence[start : start + n]:
                    key = key * id_bound + token
                keys.add(key)
        for key in keys:
            frequency[key] = frequency.get(key, 0) + 1
    ranked = sorted(frequency, key=lambda key: (-frequency[key], key))[: num_words - tokenizer.INDEX_FROM]
    return sorted(ranked)


def test_trigram_features_are_the_most_frequent_words_pairs_and_triples(monkeypatch):
    rng = np.random.default_rng(4)
    sequences = [list(rng.integers(3, 12, rng.integers(1, 30))) for _ in range(60)]
    split = split_of(sequences, [0, 1] * 30)
    whole = ngram_features.FeatureTable.fit(split, 200, 13, ngrams=3)
    assert whole.keys.tolist() == ngram_reference(sequences, 200, 13, 3)
    assert (whole.keys >= 3 * 13 * 13).any()  # trigrams are among them
    monkeypatch.setattr(ngram_features, "CHUNK_REVIEWS", 7)
    np.testing.assert_array_equal(ngram_features.FeatureTable.fit(split, 200, 13, ngrams=3).keys, whole.keys)


def triples(sequence):
    return [sequence[start : start + 3] for start in range(len(sequence) - 2)]


def test_trigram_rows_hold_their_known_triples_and_none_across_reviews():
    split = split_of(REVIEWS, [1, 0, 1, 0])
    table = ngram_features.FeatureTable.fit(split, num_words=100, id_bound=10, ngrams=3)
    matrix = multi_hot(split, 100, table).matrix().toarray()
    column = {int(key): position + tokenizer.INDEX_FROM for position, key in enumerate(table.keys)}
    for row, sequence in zip(matrix, REVIEWS, strict=True):
        expected = {tokenizer.START} | {column[t] for t in sequence}
        expected |= {column[a * 10 + b] for a, b in itertools.pairwise(sequence)}
        expected |= {column[(a * 10 + b) * 10 + c] for a, b, c in triples(sequence)}
        assert set(np.flatnonzero(row)) == expected, sequence
    assert (4 * 10 + 6) not in column  # "4" ends review 3, "6" starts review 4: no pair across reviews


def test_a_saved_trigram_table_loads_as_it_was(tmp_path):
    table = ngram_features.FeatureTable.fit(
        split_of(REVIEWS, [1, 0, 1, 0]), num_words=100, id_bound=10, ngrams=3
    )
    table.save(tmp_path / "features.npz")
    loaded = ngram_features.FeatureTable.load(tmp_path / "features.npz")
    np.testing.assert_array_equal(loaded.keys, table.keys)
    assert (loaded.id_bound, loaded.num_words, loaded.ngrams) == (10, 100, 3)


def test_a_vocabulary_too_large_for_trigram_keys_is_refused():
    with pytest.raises(PipelineInputError, match="too large for 3-gram features"):
        ngram_features.FeatureTable.fit(
            split_of(REVIEWS, [1, 0, 1, 0]), 100, ngram_features.MAX_ID_BOUND[3] + 1, 3
        )
