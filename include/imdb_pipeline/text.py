"""Turning review text into Keras-IMDB token ids, the way ``keras.datasets.imdb`` was made.

Lowercase, ``<br />`` removed, Keras' default punctuation filter (apostrophes kept), split on
white space. Words are ranked by training-set frequency (1 = most frequent, as in Keras'
``imdb_word_index.json``); a review becomes ``[1] + [rank + 3 ...]``: 0 pads, 1 starts, 2 is
"out of vocabulary" (a ranked word beyond ``num_words``), and words never seen in training are
skipped, as Keras' file does.
"""

from __future__ import annotations

import collections
import itertools
import re
from typing import Iterable, Sequence

import numpy as np

PAD, START, OOV = 0, 1, 2
INDEX_FROM = 3
# Keras' text_to_word_sequence default filters (tf.keras.preprocessing.text): no apostrophe.
PUNCTUATION = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_PUNCTUATION_TO_SPACE = str.maketrans({char: " " for char in PUNCTUATION} | {"\x00": " "})
_DOC_SEPARATOR = "\x00"


def clean_text(text: str) -> str:
    """Lowercased text with line breaks and punctuation turned into spaces."""
    return _LINE_BREAK.sub(" ", text.lower()).translate(_PUNCTUATION_TO_SPACE)


def split_words(texts: Sequence[str]) -> list[list[str]]:
    """Each text as its list of words; cleans all texts in one pass (one big string) for speed."""
    if not texts:
        return []
    joined = _DOC_SEPARATOR.join(text.replace(_DOC_SEPARATOR, " ") for text in texts)
    cleaned = _LINE_BREAK.sub(" ", joined.lower())
    # The separator survives lower() and the regex; translate() would blank it, so split first.
    return [part.translate(_PUNCTUATION_TO_SPACE).split() for part in cleaned.split(_DOC_SEPARATOR)]


def rank_words(docs: Iterable[list[str]]) -> dict[str, int]:
    """word -> rank (1 = most frequent); ties broken alphabetically so the order is reproducible."""
    counts = collections.Counter(itertools.chain.from_iterable(docs))
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return {word: rank for rank, (word, _) in enumerate(ordered, start=1)}


def encode(docs: Sequence[list[str]], word_rank: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Flat int32 token ids (start token first in each review) and int64 offsets (len n + 1)."""
    lengths = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
    words = list(itertools.chain.from_iterable(docs))
    ranks = np.fromiter(map(word_rank.get, words, itertools.repeat(0)), dtype=np.int64, count=len(words))
    known = ranks > 0
    # Unknown words are dropped: count the known ones per review.
    doc_of_word = np.repeat(np.arange(len(docs)), lengths)
    kept = np.bincount(doc_of_word[known], minlength=len(docs)).astype(np.int64)
    return with_start_tokens(ranks[known] + INDEX_FROM, kept)


def with_start_tokens(ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prefix each review's ids with START; returns (tokens int32, offsets int64)."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else np.zeros(0, np.int64)
    tokens = np.insert(ids.astype(np.int32), starts, START)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths + 1, out=offsets[1:])
    return tokens, offsets


def encode_texts(texts: Sequence[str], word_rank: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    return encode(split_words(texts), word_rank)


def decode(tokens: np.ndarray, word_rank: dict[str, int]) -> str:
    """Token ids back to words (the book's ``decoded_review``): '?' for start, OOV and padding."""
    words_by_id = {rank + INDEX_FROM: word for word, rank in word_rank.items()}
    return " ".join(words_by_id.get(int(token), "?") for token in tokens)
