"""Tokenization as Keras' IMDB data was made."""

import numpy as np
import pytest

from imdb_pipeline import text


def test_words_are_lowercased_without_line_breaks_or_punctuation_but_with_apostrophes():
    assert text.clean_words("Great film!<br /><br />Don't MISS it.") == [
        "great",
        "film",
        "don't",
        "miss",
        "it",
    ]


def test_non_ascii_text_is_lowercased_and_kept_whole():
    assert text.clean_words("CAFÉ au lait, NAÏVE<BR/>touché") == ["café", "au", "lait", "naïve", "touché"]


def test_split_words_handles_every_document_separately():
    docs = ["A, b. c!", "", "<BR/>x<br>y", "null\x00byte"]
    assert text.split_words(docs) == [[b"a", b"b", b"c"], [], [b"x", b"y"], [b"null", b"byte"]]


def test_each_text_is_lowercased_on_its_own_greek_final_sigma_included():
    docs = text.split_words(["ΟΔΥΣΣΕΥΣ ΑΣ", "Σ", "ΑΣ'", "İK"])
    assert docs == [[w.encode() for w in words] for words in (["οδυσσευς", "ας"], ["σ"], ["ας'"], ["i̇k"])]


def test_words_ranked_by_training_frequency_then_alphabetically():
    vocabulary = text.Vocabulary()
    train_ids, _ = vocabulary.add([[b"b", b"a", b"c", b"a"], [b"c", b"a", b"d"]])
    test_ids, test_lengths = vocabulary.add([[b"e", b"a", b"d"]])  # "e" never seen in training
    rank_of_id, word_rank = vocabulary.ranks(train_ids)
    assert word_rank == {b"a": 1, b"c": 2, b"b": 3, b"d": 4}
    tokens, offsets = text.tokens_from_ids(test_ids, test_lengths, rank_of_id)
    assert tokens.tolist() == [text.START, 1 + text.INDEX_FROM, 4 + text.INDEX_FROM] and offsets.tolist() == [
        0,
        3,
    ]


def test_reorder_moves_whole_sequences():
    tokens, offsets = np.array([1, 5, 1, 6, 7, 1]), np.array([0, 2, 5, 6])
    moved, new_offsets = text.reorder(tokens, offsets, np.array([2, 0, 1]))
    assert moved.tolist() == [1, 1, 5, 1, 6, 7] and new_offsets.tolist() == [0, 1, 3, 6]


def test_word_index_round_trips_through_json_form():
    ranks = {"café".encode(): 1, b"film": 2}
    assert text.word_index_json(ranks) == {"café": 1, "film": 2}
    assert text.rank_from_word_index(text.word_index_json(ranks)) == ranks


def test_encode_prefixes_start_offsets_by_three_and_skips_unseen_words():
    ranks = {b"good": 1, b"film": 2}
    tokens, offsets = text.encode([[b"good", b"film", b"unseen"], [], [b"film"]], ranks)
    assert offsets.tolist() == [0, 3, 4, 6]
    assert tokens.tolist() == [text.START, 4, 5, text.START, text.START, 5]
    assert tokens.dtype == np.int32


def test_decode_is_the_books_decoded_review():
    assert text.decode(np.array([1, 4, 2, 5]), {"good": 1, "film": 2}) == "? good ? film"


def split_and_get(texts, values):
    """The reference ``WordTable.lookup`` must equal: ``split_words``, then a dict lookup per word."""
    docs = text.split_words(texts)
    return [len(doc) for doc in docs], [values.get(word, 0) for doc in docs for word in doc]


def assert_lookup_is_split_and_get(texts, values):
    lengths, found = text.WordTable(values).lookup(texts)
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
        words = {word for doc in text.split_words(texts) for word in doc}
        chosen = rng.permutation(sorted(words))[: len(words) // 2]
        values = {bytes(word): int(rank) for rank, word in enumerate(chosen, start=1)}
        values.update({b"unused" * int(size): 99 for size in rng.integers(1, 5, 3)})
        assert_lookup_is_split_and_get(texts, values)


def test_word_table_keys_shared_by_two_table_words_take_the_next_multipliers(monkeypatch):
    values = {word.encode(): rank for rank, word in enumerate(EDGE_WORDS, start=1)}
    texts = [" ".join(EDGE_WORDS), "abcdefgh1234567 nothing"]
    monkeypatch.setattr(text, "KEY_MULTIPLIERS", ((0, 0), *text.KEY_MULTIPLIERS))  # every key 0
    assert_lookup_is_split_and_get(texts, values)
    monkeypatch.setattr(text, "KEY_MULTIPLIERS", ((0, 0),))  # none left: a dict lookup per word
    assert text.WordTable(values)._index is None
    assert_lookup_is_split_and_get(texts, values)


@pytest.mark.parametrize("multipliers", [(1, 0), (0, 1)], ids=["key of the first half", "of the second"])
def test_word_table_a_word_sharing_a_key_with_a_table_word_is_not_that_word(monkeypatch, multipliers):
    monkeypatch.setattr(text, "KEY_MULTIPLIERS", (multipliers,))
    values = {b"abcdefgh12345678": 1, b"other": 2}
    table = text.WordTable(values)
    assert table._index is not None
    texts = ["abcdefgh abcdefgh1 abcdefgh12345679 zzzzzzzz12345678 abcdefgh12345678 other"]
    assert table.lookup(texts)[1].tolist() == [0, 0, 0, 0, 1, 2]
