"""Which multi-hot column each word (and, with ``ngrams=2``, each pair of adjacent words) gets.

With ``ngrams=2`` the columns are the ``num_words`` most frequent unigrams *and bigrams*, by
training-set document frequency: a ``FeatureTable`` saved as ``features.npz`` maps them to
columns, and travels with the model so ``predict`` builds the same rows. Splits are walked a chunk
of reviews at a time, so temporaries stay bounded whatever the corpus size.
"""

from __future__ import annotations

import dataclasses
import zipfile
from collections.abc import Iterator

import numpy as np

from imdb_pipeline import artifacts, text
from imdb_pipeline.errors import PipelineInputError
from imdb_pipeline.tokenized import TokenizedSplit

# Reviews vectorized at a time: bounds the temporary (row, column) arrays whatever the corpus size.
CHUNK_REVIEWS = 10000


def token_chunks(split: TokenizedSplit) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(tokens, row of each token, labels) of CHUNK_REVIEWS reviews at a time."""
    for start in range(0, len(split), CHUNK_REVIEWS):
        stop = min(start + CHUNK_REVIEWS, len(split))
        offsets = split.offsets[start : stop + 1]
        rows = np.repeat(np.arange(stop - start, dtype=np.int64), np.diff(offsets))
        yield split.tokens[offsets[0] : offsets[-1]], rows, split.labels[start:stop]


def bigram_keys(tokens: np.ndarray, rows: np.ndarray, id_bound: int) -> tuple[np.ndarray, np.ndarray]:
    """(key, row) of each pair of adjacent words in the same review; key = first * id_bound + second.

    Words have ids >= INDEX_FROM, so a bigram key (>= INDEX_FROM * id_bound) never equals a word id:
    words and bigrams share one key space. START (which begins every review) ends no pair.
    """
    first, second = tokens[:-1].astype(np.int64), tokens[1:].astype(np.int64)
    pair = (first >= text.INDEX_FROM) & (second >= text.INDEX_FROM)
    return first[pair] * id_bound + second[pair], rows[:-1][pair]


@dataclasses.dataclass
class FeatureTable:
    """Which word or bigram each column holds (``ngrams=2``); ``keys`` sorted, column = 3 + position.

    Column 1 is START (every review), 2 OOV (a word that is not a feature), as in the book's encoding.
    """

    keys: np.ndarray  # int64, sorted: word ids and bigram keys
    id_bound: int  # word ids are < id_bound
    num_words: int

    @classmethod
    def fit(cls, split: TokenizedSplit, num_words: int, id_bound: int) -> FeatureTable:
        """The num_words - 3 words and bigrams found in the most training reviews (ties: words
        first, then lower keys: more frequent words)."""
        keys, counts = [], []
        for tokens, rows, _ in token_chunks(split):
            words = tokens >= text.INDEX_FROM
            pairs, pair_rows = bigram_keys(tokens, rows, id_bound)
            row_keys = np.concatenate([rows[words], pair_rows]) * (id_bound * id_bound) + np.concatenate(
                [tokens[words].astype(np.int64), pairs]
            )
            chunk_keys, chunk_counts = np.unique(
                sorted_unique(row_keys) % (id_bound * id_bound), return_counts=True
            )
            keys.append(chunk_keys)
            counts.append(chunk_counts)
        keys, inverse = np.unique(np.concatenate(keys), return_inverse=True)
        frequency = np.bincount(inverse, weights=np.concatenate(counts)).astype(np.int64)
        top = np.lexsort((keys, -frequency))[: max(num_words - text.INDEX_FROM, 0)]
        return cls(np.sort(keys[top]), id_bound, num_words)

    def pairs(self, tokens: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, column) of every token and bigram that is a feature; other words count as OOV."""
        pairs, pair_rows = bigram_keys(tokens, rows, self.id_bound)
        word_columns = self._columns(tokens.astype(np.int64))
        word_columns = np.where(
            tokens < text.INDEX_FROM, tokens, np.where(word_columns < 0, text.OOV, word_columns)
        )
        pair_columns = self._columns(pairs)
        known = pair_columns >= 0
        return np.concatenate([rows, pair_rows[known]]), np.concatenate([word_columns, pair_columns[known]])

    def _columns(self, keys: np.ndarray) -> np.ndarray:
        position = np.searchsorted(self.keys, keys).clip(max=max(len(self.keys) - 1, 0))
        found = self.keys[position] == keys if len(self.keys) else np.zeros(len(keys), bool)
        return np.where(found, position + text.INDEX_FROM, -1)

    def save(self, path) -> None:
        artifacts.save_arrays(
            path, keys=self.keys, id_bound=np.int64(self.id_bound), num_words=np.int64(self.num_words)
        )

    @classmethod
    def load(cls, path) -> FeatureTable:
        """A saved table; one that ``save`` could not have written is refused with one message."""
        try:
            arrays = artifacts.load_arrays(path)
            keys, id_bound, num_words = arrays["keys"], int(arrays["id_bound"]), int(arrays["num_words"])
            if keys.dtype != np.int64 or keys.ndim != 1 or not text.INDEX_FROM < id_bound <= 1 << 31:
                raise ValueError("keys must be 1-D int64, id_bound in (3, 2**31]")
            first, second = np.divmod(keys, id_bound)  # a word: first == 0
            ids_ok = (np.where(first > 0, np.minimum(first, second), second) >= text.INDEX_FROM).all()
            if len(keys) > num_words - text.INDEX_FROM or not (ids_ok and (first < id_bound).all()):
                raise ValueError(f"keys must be at most num_words - {text.INDEX_FROM} words and word pairs")
            if (np.diff(keys) <= 0).any():
                raise ValueError("keys must be sorted and distinct")
        except (OSError, EOFError, ValueError, TypeError, KeyError, zipfile.BadZipFile) as err:
            raise PipelineInputError(
                f"{path} is not a feature table ({type(err).__name__}: {err}): rerun vectorize and train "
                "to write it again."
            ) from None
        return cls(keys, id_bound, num_words)


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` for int arrays that are already grouped by row: a stable sort (fast on the
    long sorted runs) and a mask: much faster on such input than numpy 2's hash-based ``np.unique``."""
    ordered = np.sort(values, kind="stable")
    keep = np.empty(len(ordered), dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]
