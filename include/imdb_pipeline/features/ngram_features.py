"""Which multi-hot column each word (and, with ``ngrams`` 2 or 3, each run of adjacent words) gets.

With ``ngrams`` > 1 the columns are the ``num_words`` most frequent unigrams and n-grams up to
``ngrams`` words, by training-set document frequency: a ``FeatureTable`` saved as ``features.npz``
maps them to columns, and travels with the model so ``predict`` builds the same rows. Splits are
walked a chunk of reviews at a time, so temporaries stay bounded whatever the corpus size.
"""

from __future__ import annotations

import dataclasses
import zipfile
from collections.abc import Iterator

import numpy as np

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.features import tokenizer
from imdb_pipeline.features.key_index import KeyIndex
from imdb_pipeline.features.tokenized import TokenizedSplit
from imdb_pipeline.store import artifacts

# Reviews vectorized at a time: bounds the temporary (row, column) arrays whatever the corpus size.
CHUNK_REVIEWS = 10000


def token_chunks(split: TokenizedSplit) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(tokens, row of each token, labels) of CHUNK_REVIEWS reviews at a time."""
    for start in range(0, len(split), CHUNK_REVIEWS):
        stop = min(start + CHUNK_REVIEWS, len(split))
        offsets = split.offsets[start : stop + 1]
        rows = np.repeat(np.arange(stop - start, dtype=np.int64), np.diff(offsets))
        yield split.tokens[offsets[0] : offsets[-1]], rows, split.labels[start:stop]


# The largest id_bound whose trigram keys (id_bound ** 3) fit in int64.
MAX_ID_BOUND = {2: 1 << 31, 3: 2_097_151}


def ngram_keys(
    tokens: np.ndarray, rows: np.ndarray, id_bound: int, ngrams: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """(key, row) of each run of 2..``ngrams`` adjacent words in the same review; the key of words
    a, b (, c) is a * id_bound + b (* id_bound + c).

    Words have ids >= INDEX_FROM, so a bigram key lies in [INDEX_FROM * id_bound, id_bound ** 2) and a
    trigram key at or above INDEX_FROM * id_bound ** 2: words, bigrams and trigrams share one key
    space. START (which begins every review) is part of no n-gram.
    """
    keys, key_rows = [], []
    word = tokens.astype(np.int64) >= tokenizer.INDEX_FROM
    for n in range(2, ngrams + 1):
        count = len(tokens) - n + 1
        if count <= 0:
            break
        key = tokens[:count].astype(np.int64)
        valid = word[:count].copy()
        for offset in range(1, n):
            key = key * id_bound + tokens[offset : offset + count]
            valid &= word[offset : offset + count]
        keys.append(key[valid])
        key_rows.append(rows[:count][valid])  # a run across reviews would hold the next one's START
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0, rows.dtype)
    return np.concatenate(keys), np.concatenate(key_rows)


@dataclasses.dataclass
class FeatureTable:
    """Which word or n-gram each column holds (``ngrams`` 2 or 3); ``keys`` sorted, column = 3 + position.

    Column 1 is START (every review), 2 OOV (a word that is not a feature), as in the book's encoding.
    """

    keys: np.ndarray  # int64, sorted: word ids and n-gram keys
    id_bound: int  # word ids are < id_bound
    num_words: int
    ngrams: int = 2
    # Lookups built on first use: n-gram keys hashed, word ids straight to columns.
    _index: KeyIndex | None = dataclasses.field(default=None, init=False, repr=False, compare=False)
    _word_columns: np.ndarray | None = dataclasses.field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def fit(cls, split: TokenizedSplit, num_words: int, id_bound: int, ngrams: int = 2) -> FeatureTable:
        """The num_words - 3 words and n-grams found in the most training reviews (ties: words
        first, then lower keys: more frequent words)."""
        if id_bound > MAX_ID_BOUND[ngrams]:
            raise PipelineInputError(
                f"a vocabulary of {id_bound} word ids is too large for {ngrams}-gram features (at most "
                f"{MAX_ID_BOUND[ngrams]}): use ngrams=2."
            )
        keys = np.zeros(0, np.int64)
        counts = np.zeros(0, np.int64)
        for tokens, rows, _ in token_chunks(split):
            words = tokens >= tokenizer.INDEX_FROM
            grams, gram_rows = ngram_keys(tokens, rows, id_bound, ngrams)
            chunk_keys, inverse = np.unique(
                np.concatenate([tokens[words].astype(np.int64), grams]), return_inverse=True
            )
            del grams
            # Each review counts a key once: unique (row, key) pairs, keys numbered within the chunk.
            row_keys = np.concatenate([rows[words], gram_rows]) * len(chunk_keys) + inverse
            del inverse, gram_rows
            chunk_counts = np.bincount(sorted_unique(row_keys) % len(chunk_keys), minlength=len(chunk_keys))
            del row_keys
            keys, inverse = np.unique(np.concatenate([keys, chunk_keys]), return_inverse=True)
            counts = np.bincount(inverse, weights=np.concatenate([counts, chunk_counts])).astype(np.int64)
        top = np.lexsort((keys, -counts))[: max(num_words - tokenizer.INDEX_FROM, 0)]
        return cls(np.sort(keys[top]), id_bound, num_words, ngrams)

    def pairs(self, tokens: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, column) of every token and n-gram that is a feature; other words count as OOV."""
        grams, gram_rows = ngram_keys(tokens, rows, self.id_bound, self.ngrams)
        if self._index is None:  # built on first use, then kept with the table
            self._index = KeyIndex(self.keys)
            self._word_columns = np.full(self.id_bound, tokenizer.OOV, np.int64)
            self._word_columns[: tokenizer.INDEX_FROM] = np.arange(tokenizer.INDEX_FROM)  # PAD, START, OOV
            words = np.flatnonzero(self.keys < self.id_bound)
            self._word_columns[self.keys[words]] = words + tokenizer.INDEX_FROM
        word_columns = self._word_columns[np.minimum(tokens, self.id_bound - 1)]
        word_columns[tokens >= self.id_bound] = tokenizer.OOV
        position = self._index.positions(grams)
        known = position >= 0
        return (
            np.concatenate([rows, gram_rows[known]]),
            np.concatenate([word_columns, position[known] + tokenizer.INDEX_FROM]),
        )

    def save(self, path) -> None:
        artifacts.save_arrays(
            path,
            keys=self.keys,
            id_bound=np.int64(self.id_bound),
            num_words=np.int64(self.num_words),
            ngrams=np.int64(self.ngrams),
        )

    @classmethod
    def load(cls, path) -> FeatureTable:
        """A saved table; one that ``save`` could not have written is refused with one message."""
        try:
            arrays = artifacts.load_arrays(path)
            keys, id_bound, num_words = arrays["keys"], int(arrays["id_bound"]), int(arrays["num_words"])
            ngrams = int(arrays["ngrams"]) if "ngrams" in arrays else 2  # tables written before trigrams
            if ngrams not in MAX_ID_BOUND:
                raise ValueError(f"ngrams must be one of {sorted(MAX_ID_BOUND)}")
            if (
                keys.dtype != np.int64
                or keys.ndim != 1
                or not tokenizer.INDEX_FROM < id_bound <= MAX_ID_BOUND[ngrams]
            ):
                raise ValueError(f"keys must be 1-D int64, id_bound in (3, {MAX_ID_BOUND[ngrams]}]")
            if len(keys) > num_words - tokenizer.INDEX_FROM or not _valid_keys(keys, id_bound, ngrams):
                raise ValueError(
                    f"keys must be at most num_words - {tokenizer.INDEX_FROM} words and runs of 2 to "
                    f"{ngrams} words"
                )
            if (np.diff(keys) <= 0).any():
                raise ValueError("keys must be sorted and distinct")
        except (OSError, EOFError, ValueError, TypeError, KeyError, zipfile.BadZipFile) as err:
            raise PipelineInputError(
                f"{path} is not a feature table ({type(err).__name__}: {err}): rerun vectorize and train "
                "to write it again."
            ) from None
        return cls(keys, id_bound, num_words, ngrams)


def _valid_keys(keys: np.ndarray, id_bound: int, ngrams: int) -> bool:
    """Every key is a word id or a run of up to ``ngrams`` word ids (each >= INDEX_FROM) in base id_bound."""
    rest, valid = keys, np.ones(len(keys), bool)
    ended = np.zeros(len(keys), bool)  # no word left above this digit (never so for the last word)
    for _ in range(ngrams):
        rest, digit = np.divmod(rest, id_bound)
        valid &= (digit >= tokenizer.INDEX_FROM) | ended
        ended = rest == 0
    return bool((valid & (rest == 0)).all())


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` for int arrays: numpy's default sort (faster here than a stable sort even on
    row-grouped keys) and a mask; faster than numpy 2's hash-based ``np.unique``. Values that fit
    in uint32 (a scoring chunk's (row, column) keys) are sorted as uint32: numpy sorts those faster."""
    if values.size and values.min() >= 0 and values.max() <= np.iinfo(np.uint32).max:
        return _unique_of_sorted(np.sort(values.astype(np.uint32))).astype(values.dtype)
    return _unique_of_sorted(np.sort(values))


def _unique_of_sorted(ordered: np.ndarray) -> np.ndarray:
    keep = np.empty(len(ordered), dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]
