"""Tokenization as Keras' IMDB data was made."""

import numpy as np

from imdb_pipeline.features import tokenizer


def words(text: str) -> list[str]:
    """One text's words as str, as the tokenizer splits them."""
    return [word.decode("utf-8") for word in tokenizer.split_words([text])[0]]


def test_words_are_lowercased_without_line_breaks_or_punctuation_but_with_apostrophes():
    assert words("Great film!<br /><br />Don't MISS it.") == [
        "great",
        "film",
        "don't",
        "miss",
        "it",
    ]


def test_non_ascii_text_is_lowercased_and_kept_whole():
    assert words("CAFÉ au lait, NAÏVE<BR/>touché") == [
        "café",
        "au",
        "lait",
        "naïve",
        "touché",
    ]


def test_split_words_handles_every_document_separately():
    docs = ["A, b. c!", "", "<BR/>x<br>y", "null\x00byte"]
    assert tokenizer.split_words(docs) == [[b"a", b"b", b"c"], [], [b"x", b"y"], [b"null", b"byte"]]


def test_each_text_is_lowercased_on_its_own_greek_final_sigma_included():
    docs = tokenizer.split_words(["ΟΔΥΣΣΕΥΣ ΑΣ", "Σ", "ΑΣ'", "İK"])
    assert docs == [[w.encode() for w in words] for words in (["οδυσσευς", "ας"], ["σ"], ["ας'"], ["i̇k"])]


def test_words_ranked_by_training_frequency_then_alphabetically():
    vocabulary = tokenizer.Vocabulary()
    train_ids, _ = vocabulary.add([[b"b", b"a", b"c", b"a"], [b"c", b"a", b"d"]])
    test_ids, test_lengths = vocabulary.add([[b"e", b"a", b"d"]])  # "e" never seen in training
    rank_of_id, word_rank = vocabulary.ranks(train_ids)
    assert word_rank == {b"a": 1, b"c": 2, b"b": 3, b"d": 4}
    tokens, offsets = tokenizer.tokens_from_ids(test_ids, test_lengths, rank_of_id)
    assert tokens.tolist() == [tokenizer.START, 1 + tokenizer.INDEX_FROM, 4 + tokenizer.INDEX_FROM]
    assert offsets.tolist() == [0, 3]


def test_reorder_moves_whole_sequences():
    tokens, offsets = np.array([1, 5, 1, 6, 7, 1]), np.array([0, 2, 5, 6])
    moved, new_offsets = tokenizer.reorder(tokens, offsets, np.array([2, 0, 1]))
    assert moved.tolist() == [1, 1, 5, 1, 6, 7] and new_offsets.tolist() == [0, 1, 3, 6]


def test_word_index_round_trips_through_json_form():
    ranks = {"café".encode(): 1, b"film": 2}
    assert tokenizer.word_index_json(ranks) == {"café": 1, "film": 2}
    assert tokenizer.rank_from_word_index(tokenizer.word_index_json(ranks)) == ranks


def test_encode_prefixes_start_offsets_by_three_and_skips_unseen_words():
    ranks = {b"good": 1, b"film": 2}
    tokens, offsets = tokenizer.encode([[b"good", b"film", b"unseen"], [], [b"film"]], ranks)
    assert offsets.tolist() == [0, 3, 4, 6]
    assert tokens.tolist() == [tokenizer.START, 4, 5, tokenizer.START, tokenizer.START, 5]
    assert tokens.dtype == np.int32


def test_decode_is_the_books_decoded_review():
    assert tokenizer.decode(np.array([1, 4, 2, 5]), {"good": 1, "film": 2}) == "? good ? film"
