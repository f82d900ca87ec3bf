"""WordTable: the same words and values as ``tokenizer.split_words`` and a dict lookup per word."""

import numpy as np
import pytest

from imdb_pipeline.features import tokenizer, word_table
from imdb_pipeline.features.word_table import WordTable


def split_and_get(texts, values):
    """The reference ``WordTable.lookup`` must equal: ``split_words``, then a dict lookup per word."""
    docs = tokenizer.split_words(texts)
    return [len(doc) for doc in docs], [values.get(word, 0) for doc in docs for word in doc]


def assert_lookup_is_split_and_get(texts, values):
    lengths, found = WordTable(values).lookup(texts)
    assert (lengths.tolist(), found.tolist()) == split_and_get(texts, values)
    assert lengths.dtype == found.dtype == np.int64


# Words around the 8- and 16-byte halves: prefixes of each other, equal in the first half only.
EDGE_WORDS = [
    "a",
    "abcdefg",
    "abcdefgh",
    "abcdefghi",
    "abcdefgh12345678",
    "abcdefgh12345679",
    "abcdefgh1234567",
    "abcdefgh123456789",
    "abcdefgh123456789x",
    "x" * 40,
    "x" * 41,
    "café",
    "naïve✓touché",
    "ctrl\x01\x1cchars",
    "don't",
]


def test_word_table_finds_what_split_words_and_a_dict_find():
    values = {word.encode(): rank for rank, word in enumerate(EDGE_WORDS[::2], start=1)}
    texts = [
        " ".join(EDGE_WORDS),
        "",
        "   ",
        "ABCDEFGH, abcdefgh12345678! x<br />abcdefghi\tCafé\r\nNAÏVE✓TOUCHÉ",
        "null\x00byte\x0bform\x0cfeed ctrl\x01\x1cchars\x1fmore " + "x" * 40,
        "unseen wörds only",
        "DON'T<BR/>a",
    ]
    assert_lookup_is_split_and_get(texts, values)
    assert_lookup_is_split_and_get(texts[::-1], values)
    assert_lookup_is_split_and_get([], values)
    assert_lookup_is_split_and_get(texts, {})


def test_word_table_words_split_words_cannot_give_are_never_found():
    values = {b"": 1, b"two words": 2, b"nul\x00": 3, b"nul": 4, b"tab\t": 5, b"x" * 20 + b" y": 6}
    assert_lookup_is_split_and_get(["nul two words tab\t " + "x" * 20 + " y"], values)


def test_word_table_random_texts_and_vocabularies():
    rng = np.random.default_rng(7)
    alphabet = [*"abcdeABCé✓'.,!<>/ \t\n\r\x00\x01\x0b", "<br />", "x" * 9]
    for _ in range(30):
        texts = ["".join(rng.choice(alphabet, rng.integers(0, 60))) for _ in range(rng.integers(0, 20))]
        words = {word for doc in tokenizer.split_words(texts) for word in doc}
        chosen = rng.permutation(sorted(words))[: len(words) // 2]
        values = {bytes(word): int(rank) for rank, word in enumerate(chosen, start=1)}
        values.update({b"unused" * int(size): 99 for size in rng.integers(1, 5, 3)})
        assert_lookup_is_split_and_get(texts, values)


def test_word_table_keys_shared_by_two_table_words_take_the_next_multipliers(monkeypatch):
    values = {word.encode(): rank for rank, word in enumerate(EDGE_WORDS, start=1)}
    texts = [" ".join(EDGE_WORDS), "abcdefgh1234567 nothing"]
    real_multipliers = word_table.KEY_MULTIPLIERS
    monkeypatch.setattr(word_table, "KEY_MULTIPLIERS", ((0, 0), *real_multipliers))  # every key 0
    table = WordTable(values)
    # The index was built, with the pair after the one that gave every word the same key...
    assert table._index is not None
    assert table._multipliers == tuple(map(np.uint64, real_multipliers[0]))
    # ...and the lookup uses it: the dict fallback (text.ranks_of) is not called.
    monkeypatch.setattr(tokenizer, "ranks_of", lambda *args: pytest.fail("the dict fallback was used"))
    lengths, found = table.lookup(texts)
    assert (lengths.tolist(), found.tolist()) == split_and_get(texts, values)
    monkeypatch.undo()

    monkeypatch.setattr(word_table, "KEY_MULTIPLIERS", ((0, 0),))  # none left: a dict lookup per word
    assert WordTable(values)._index is None
    assert_lookup_is_split_and_get(texts, values)


@pytest.mark.parametrize("multipliers", [(1, 0), (0, 1)], ids=["key of the first half", "of the second"])
def test_word_table_a_word_sharing_a_key_with_a_table_word_is_not_that_word(monkeypatch, multipliers):
    monkeypatch.setattr(word_table, "KEY_MULTIPLIERS", (multipliers,))
    values = {b"abcdefgh12345678": 1, b"other": 2}
    table = WordTable(values)
    assert table._index is not None
    texts = ["abcdefgh abcdefgh1 abcdefgh12345679 zzzzzzzz12345678 abcdefgh12345678 other"]
    assert table.lookup(texts)[1].tolist() == [0, 0, 0, 0, 1, 2]
