"""Turning review text into Keras-IMDB token ids, the way ``keras.datasets.imdb`` was made.

Lowercase, ``<br />`` removed, Keras' default punctuation filter (apostrophes kept) turned into
spaces, split on white space. Words are ranked by training-set frequency (1 = most frequent, ties
alphabetical; as in Keras' ``imdb_word_index.json``); a review becomes ``[1] + [rank + 3 ...]``:
0 pads, 1 starts, 2 is "out of vocabulary" (a ranked word beyond ``num_words``), and words never
seen in training are skipped, as Keras' file does.

Speed: after ``str.lower()`` the text is handled as UTF-8 *bytes*. Every filtered character is
ASCII and never part of a multi-byte sequence, so a 256-byte ``bytes.translate`` table does the
filtering, and words stay ``bytes`` (decoded only for the saved word index): faster than
``str.translate``, and, like Keras' ``split(" ")``, it does not split on non-ASCII spaces.
Scoring looks words up with a ``word_table.WordTable``, which makes no Python object per word.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Sequence

import numpy as np

PAD, START, OOV = 0, 1, 2
INDEX_FROM = 3
# Keras' text_to_word_sequence default filters (keras.preprocessing.text): no apostrophe.
PUNCTUATION = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_LINE_BREAK = re.compile(rb"<br\s*/?>", re.IGNORECASE)
# The filter, and the other white space ``bytes.split`` splits on made spaces too: a word then ends
# only at a space or at the separator between texts.
_SPACED = PUNCTUATION.encode("ascii") + b"\r\x0b\x0c"
_FILTER_TABLE = bytes.maketrans(_SPACED, b" " * len(_SPACED))
DOC_SEPARATOR = "\x00"

Words = list[bytes]


def cleaned_bytes(texts: Sequence[str]) -> bytes:
    """The texts cleaned in one pass, as UTF-8, separated by NUL bytes (a NUL in a text is a space).

    Lowercased text by text: ``str.lower`` of an ASCII text is fast, of a joined chunk with any
    non-ASCII text slow. The same result: a NUL, neither cased nor case-ignorable, ends a final
    sigma's context as the end of a text does.
    """
    separator = DOC_SEPARATOR.encode()
    joined = separator.join(text.replace(DOC_SEPARATOR, " ").lower().encode("utf-8") for text in texts)
    return _LINE_BREAK.sub(b" ", joined).translate(_FILTER_TABLE)


def split_words(texts: Sequence[str]) -> list[Words]:
    """Each text as its list of words (UTF-8 bytes); all texts are cleaned in one pass."""
    if not texts:
        return []
    return [part.split() for part in cleaned_bytes(texts).split(DOC_SEPARATOR.encode())]


def word_index_json(word_rank: dict[bytes, int]) -> dict[str, int]:
    """The rank table in the form of Keras' ``imdb_word_index.json``."""
    return {word.decode("utf-8", errors="replace"): rank for word, rank in word_rank.items()}


def rank_from_word_index(word_index: dict[str, int]) -> dict[bytes, int]:
    """A saved (or Keras') word index, keyed the way ``encode`` looks words up."""
    return {word.encode("utf-8"): rank for word, rank in word_index.items()}


class Vocabulary:
    """Words seen so far, each with a provisional id, so that text can be encoded chunk by chunk
    (memory bounded by the chunk) before the training-set ranks are known."""

    def __init__(self) -> None:
        self.ids: dict[bytes, int] = {}

    def add(self, docs: Sequence[Words]) -> tuple[np.ndarray, np.ndarray]:
        """Provisional ids of the docs' words (flat int32) and the docs' lengths (int64)."""
        lengths = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
        words = list(itertools.chain.from_iterable(docs))
        new = set(words).difference(self.ids)
        self.ids.update(zip(new, range(len(self.ids), len(self.ids) + len(new)), strict=True))
        ids = np.fromiter(map(self.ids.__getitem__, words), dtype=np.int32, count=len(words))
        return ids, lengths

    def ranks(self, training_ids: np.ndarray) -> tuple[np.ndarray, dict[bytes, int]]:
        """(rank of each provisional id, 0 = not in training; word -> rank) from training counts;
        rank 1 = most frequent, ties alphabetical."""
        counts = np.bincount(training_ids, minlength=len(self.ids))
        words = sorted(
            ((word, int(counts[i])) for word, i in self.ids.items() if counts[i]), key=operator.itemgetter(0)
        )
        words.sort(key=operator.itemgetter(1), reverse=True)  # stable: alphabetical among equal counts
        word_rank = {word: rank for rank, (word, _) in enumerate(words, start=1)}
        rank_of_id = np.zeros(len(self.ids), dtype=np.int64)
        for word, rank in word_rank.items():
            rank_of_id[self.ids[word]] = rank
        return rank_of_id, word_rank


def tokens_from_ids(
    ids: np.ndarray, lengths: np.ndarray, rank_of_id: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Provisional ids -> Keras token ids with start tokens; words unseen in training dropped."""
    return tokens_from_ranks(rank_of_id[ids], lengths)


REORDER_CHUNK = 10000


def reorder(tokens: np.ndarray, offsets: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sequences (flat tokens + offsets) in the given order: vectorized gathers, a chunk of
    reviews at a time so the index arrays stay small."""
    lengths = np.diff(offsets)[order]
    starts = offsets[:-1][order]
    new_offsets = np.zeros(len(order) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    reordered = np.empty(int(new_offsets[-1]), dtype=tokens.dtype)
    for first in range(0, len(order), REORDER_CHUNK):
        last = min(first + REORDER_CHUNK, len(order))
        begin, end = new_offsets[first], new_offsets[last]
        shift = np.repeat(starts[first:last] - new_offsets[first:last], lengths[first:last])
        reordered[begin:end] = tokens[shift + np.arange(begin, end)]
    return reordered, new_offsets


def encode(docs: Sequence[Words], word_rank: dict[bytes, int]) -> tuple[np.ndarray, np.ndarray]:
    """Flat int32 token ids (start token first in each review) and int64 offsets (len n + 1)."""
    lengths, ranks = ranks_of(docs, word_rank)
    return tokens_from_ranks(ranks, lengths)


def ranks_of(docs: Sequence[Words], word_rank: dict[bytes, int]) -> tuple[np.ndarray, np.ndarray]:
    """(each doc's word count, each word's rank; 0 for a word not in ``word_rank``), int64."""
    lengths = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
    words = itertools.chain.from_iterable(docs)
    ranks = np.fromiter(
        map(word_rank.get, words, itertools.repeat(0)), dtype=np.int64, count=int(lengths.sum())
    )
    return lengths, ranks


def tokens_from_ranks(ranks: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranks (0 = never seen in training, dropped) of docs of the given lengths -> token ids with
    start tokens, and offsets."""
    known = ranks > 0
    doc_of_word = np.repeat(np.arange(len(lengths)), lengths)
    kept = np.bincount(doc_of_word[known], minlength=len(lengths)).astype(np.int64)
    return with_start_tokens(ranks[known] + INDEX_FROM, kept)


def with_start_tokens(ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prefix each review's ids with START; returns (tokens int32, offsets int64)."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(lengths) else np.zeros(0, np.int64)
    tokens = np.insert(ids.astype(np.int32), starts, START)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths + 1, out=offsets[1:])
    return tokens, offsets


def decode(tokens: np.ndarray, word_index: dict[str, int]) -> str:
    """Token ids back to words (the book's ``decoded_review``): '?' for start, OOV and padding."""
    words_by_id = {rank + INDEX_FROM: word for word, rank in word_index.items()}
    return " ".join(words_by_id.get(int(token), "?") for token in tokens)
