"""Tokenization as Keras' IMDB data was made."""

import numpy as np

from imdb_pipeline import text


def test_clean_text_lowercases_and_drops_line_breaks_and_punctuation_but_not_apostrophes():
    assert text.clean_text("Great film!<br /><br />Don't MISS it.").split() == ["great", "film", "don't", "miss", "it"]


def test_split_words_matches_clean_text_for_every_document():
    docs = ["A, b. c!", "", "<BR/>x<br>y", "null\x00byte"]
    assert text.split_words(docs) == [text.clean_text(d).split() for d in docs]


def test_words_ranked_by_frequency_then_alphabetically():
    ranks = text.rank_words([["b", "a", "c", "a"], ["c", "a", "d"]])
    assert ranks == {"a": 1, "c": 2, "b": 3, "d": 4}


def test_encode_prefixes_start_offsets_by_three_and_skips_unseen_words():
    ranks = {"good": 1, "film": 2}
    tokens, offsets = text.encode([["good", "film", "unseen"], [], ["film"]], ranks)
    assert offsets.tolist() == [0, 3, 4, 6]
    assert tokens.tolist() == [text.START, 4, 5, text.START, text.START, 5]
    assert tokens.dtype == np.int32


def test_decode_is_the_books_decoded_review():
    ranks = {"good": 1, "film": 2}
    assert text.decode(np.array([1, 4, 2, 5]), ranks) == "? good ? film"
