"""Words -> their values (training ranks) for a chunk of texts at a time, found in numpy.

Scoring's hot path: ``tokenizer.split_words`` then a ``dict.get`` per word makes a Python object per
word; a ``WordTable`` finds the same words in the cleaned bytes and looks them up in arrays, with
the same result (tests pin it).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from imdb_pipeline.features import tokenizer
from imdb_pipeline.features.key_index import KeyIndex

PACKED_BYTES = 16  # words up to this long are packed into two uint64; longer ones go through a dict
_FIRST_BYTES = np.array([(1 << 8 * size) - 1 for size in range(8)] + [(1 << 64) - 1], np.uint64)
# Pairs of odd multipliers mixing a word's two halves into one key; the next pair is taken if two
# words of the table get the same key.
KEY_MULTIPLIERS = ((0xD6E8FEB86659FD93, 0xA0761D6478BD642F), (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9))
_KEY_BITS = np.uint64((1 << 63) - 1)  # KeyIndex keys are >= 0


class WordTable:
    """Words -> values (a rank; 0 for a word not in the table), looked up a chunk of texts at a time
    without a Python object per word.

    Numpy finds the words in ``cleaned_bytes`` where ``split_words`` would, and reads each word of up
    to 16 bytes as two little-endian uint64, zero-padded: no word holds a zero byte, so the pair is
    the word. A key mixed from the pair finds a table word in a ``KeyIndex``, and counts only if its
    pair is the word's: a shared key never mistakes one word for another.
    """

    def __init__(self, values: dict[bytes, int]):
        self.by_word = values
        # Only what split_words can give: a whole word (no space, no separator).
        packed = [word for word in values if len(word) <= PACKED_BYTES and _is_a_word(word)]
        self._long_words = {word: value for word, value in values.items() if len(word) > PACKED_BYTES}
        # A last all-zero entry, which no word matches, stands for "not in the table" (position -1).
        halves = np.frombuffer(
            b"".join(word.ljust(PACKED_BYTES, b"\0") for word in packed) + bytes(16), "<u8"
        )
        self._first, self._second = halves[0::2].copy(), halves[1::2].copy()
        self._values = np.fromiter(
            itertools.chain(map(values.__getitem__, packed), [0]), np.int64, count=len(packed) + 1
        )
        self._index = None
        for multipliers in KEY_MULTIPLIERS:
            self._multipliers = tuple(map(np.uint64, multipliers))
            keys = self._keys(self._first[:-1], self._second[:-1])
            if len(np.unique(keys)) == len(keys):
                self._index = KeyIndex(keys)
                break

    def _keys(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        return (((first * self._multipliers[0]) ^ (second * self._multipliers[1])) & _KEY_BITS).view(np.int64)

    def lookup(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(each text's number of words, each word's value): ``split_words`` then ``dict.get(word, 0)``."""
        if self._index is None:  # no multipliers gave distinct keys: one dict lookup per word
            return tokenizer.ranks_of(tokenizer.split_words(texts), self.by_word)
        if not texts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        cleaned = tokenizer.cleaned_bytes(texts) + bytes(PACKED_BYTES)  # reads past the last word stay inside
        buffer = np.frombuffer(cleaned, np.uint8)
        in_word = np.zeros(len(buffer) + 1, bool)
        np.logical_and(buffer != ord(" "), buffer != 0, out=in_word[1:])  # cleaned: no other white space
        edges = np.flatnonzero(in_word[1:] != in_word[:-1])  # each word's first byte and the byte after it
        starts, sizes = edges[0::2], edges[1::2] - edges[0::2]
        separators = np.flatnonzero(buffer[: len(buffer) - PACKED_BYTES] == 0)
        lengths = np.diff(np.append(np.searchsorted(starts, separators), len(starts)), prepend=0)
        at_offset = np.ndarray((len(buffer) - 7,), "<u8", buffer=cleaned, strides=(1,))  # unaligned reads
        first = at_offset[starts] & _FIRST_BYTES[np.minimum(sizes, 8)]
        second = np.zeros(len(starts), np.uint64)
        long = np.flatnonzero(sizes > 8)
        second[long] = at_offset[starts[long] + 8] & _FIRST_BYTES[np.minimum(sizes[long] - 8, 8)]
        position = self._index.positions(self._keys(first, second))
        values = self._values[position]
        values[(self._first[position] != first) | (self._second[position] != second)] = 0
        longer = np.flatnonzero(sizes > PACKED_BYTES)
        values[longer] = [
            self._long_words.get(cleaned[start : start + size], 0)
            for start, size in zip(starts[longer].tolist(), sizes[longer].tolist(), strict=True)
        ]
        return lengths, values


def _is_a_word(word: bytes) -> bool:
    return word.split() == [word] and tokenizer.DOC_SEPARATOR.encode() not in word
