"""key_index: hashed lookups give what a binary search over the sorted keys gives."""

import numpy as np
import pytest

from imdb_pipeline.features.key_index import KeyIndex


@pytest.mark.parametrize("size", [0, 1, 7, 1000, 50000])
def test_positions_equal_a_binary_search_for_present_and_absent_keys(size):
    rng = np.random.default_rng(size)
    keys = np.unique(rng.integers(0, 10**15, size))
    queries = np.concatenate([keys, rng.integers(0, 10**15, 3 * size + 5), keys[::-1]])
    rng.shuffle(queries)
    position = np.searchsorted(keys, queries).clip(max=max(len(keys) - 1, 0))
    found = keys[position] == queries if len(keys) else np.zeros(len(queries), bool)
    np.testing.assert_array_equal(KeyIndex(keys).positions(queries), np.where(found, position, -1))


def test_regularly_spaced_keys_are_all_found_and_their_neighbours_not():
    keys = np.arange(1, 65, dtype=np.int64) << 50
    index = KeyIndex(keys)
    np.testing.assert_array_equal(index.positions(keys), np.arange(64))
    assert (index.positions(keys + 1) == -1).all()
