"""Vectorize: token sequences -> multi-hot rows over the top ``num_words``, stored sparse.

The book's ``vectorize_sequences`` builds a dense float64 25,000 x 10,000 matrix (2 GB per split)
in which 99 % of the entries are 0. Here a split is a CSR matrix of its 1s: the column indices
(uint16 when ``num_words`` fits) and row pointers, about 7 MB per split. The training rows are
shuffled with the seed, and the first ``validation_size`` of them are the validation set, as
the book's ``x_val = x_train[:10000]``.

With ``ngrams=2`` the columns are the ``num_words`` most frequent unigrams *and bigrams* (pairs of
adjacent words), by training-set document frequency: a ``FeatureTable`` saved as ``features.npz``
maps them to columns, and travels with the model so ``predict`` builds the same rows.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import scipy.sparse

from imdb_pipeline import artifacts, ingest, text
from imdb_pipeline.config import PipelineConfig
from imdb_pipeline.errors import PipelineInputError

log = logging.getLogger(__name__)


@dataclasses.dataclass
class MultiHot:
    """A split's multi-hot rows in CSR form, with its labels."""

    indices: np.ndarray
    indptr: np.ndarray
    labels: np.ndarray
    num_words: int

    def __len__(self) -> int:
        return len(self.labels)

    def matrix(self, rows: slice = slice(None)) -> scipy.sparse.csr_matrix:
        """float32 CSR rows (a fresh data array; indices and pointers are views or slices)."""
        start, stop, _ = rows.indices(len(self))
        indptr = self.indptr[start : stop + 1]
        indices = self.indices[indptr[0] : indptr[-1]].astype(np.int32)
        data = np.ones(len(indices), dtype=np.float32)
        return scipy.sparse.csr_matrix(
            (data, indices, indptr - indptr[0]), shape=(stop - start, self.num_words)
        )


# Reviews vectorized at a time: bounds the temporary (row, column) arrays whatever the corpus size.
CHUNK_REVIEWS = 10000


def _chunks(split: ingest.TokenizedSplit):
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
    def fit(cls, split: ingest.TokenizedSplit, num_words: int, id_bound: int) -> FeatureTable:
        """The num_words - 3 words and bigrams found in the most training reviews (ties: words
        first, then lower keys: more frequent words)."""
        keys, counts = [], []
        for tokens, rows, _ in _chunks(split):
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
        arrays = artifacts.load_arrays(path)
        return cls(arrays["keys"], int(arrays["id_bound"]), int(arrays["num_words"]))


def multi_hot(split: ingest.TokenizedSplit, num_words: int, features: FeatureTable | None = None) -> MultiHot:
    """Unique features per review as CSR: token ids, ids >= num_words folded into OOV (2); or,
    given a ``FeatureTable``, its words and bigrams."""
    parts = []
    for tokens, rows, labels in _chunks(split):
        if features is None:
            columns = np.where(tokens < num_words, tokens, text.OOV)
        else:
            rows, columns = features.pairs(tokens, rows)
        parts.append(multi_hot_from_pairs(rows, columns, labels, num_words))
    if len(parts) == 1:
        return parts[0]
    pointers = [parts[0].indptr] + [part.indptr[1:] for part in parts[1:]]
    shifts = np.cumsum([0] + [part.indptr[-1] for part in parts[:-1]])
    return MultiHot(
        np.concatenate([part.indices for part in parts]) if parts else np.zeros(0, np.uint16),
        np.concatenate([pointer + shift for pointer, shift in zip(pointers, shifts)]),
        split.labels,
        num_words,
    )


def multi_hot_from_pairs(
    rows: np.ndarray, columns: np.ndarray, labels: np.ndarray, num_words: int
) -> MultiHot:
    """CSR multi-hot rows from (row, column) pairs, duplicates allowed, in any order."""
    keys = sorted_unique(rows.astype(np.int64) * num_words + columns.astype(np.int64))
    unique_rows, unique_columns = np.divmod(keys, num_words)
    indptr = np.zeros(len(labels) + 1, dtype=np.int64)
    np.cumsum(np.bincount(unique_rows, minlength=len(labels)), out=indptr[1:])
    index_dtype = np.uint16 if num_words <= np.iinfo(np.uint16).max + 1 else np.int32
    return MultiHot(unique_columns.astype(index_dtype), indptr, labels, num_words)


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` for int arrays that are already grouped by row: a stable sort (fast on the
    long sorted runs) and a mask, ~20x faster here than numpy 2's hash-based ``np.unique``."""
    ordered = np.sort(values, kind="stable")
    keep = np.empty(len(ordered), dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def shuffled(split: ingest.TokenizedSplit, seed: int) -> ingest.TokenizedSplit:
    """The split's reviews in a seeded random order (the validation split must mix both classes)."""
    order = np.random.default_rng(seed).permutation(len(split))
    tokens, offsets = text.reorder(split.tokens, split.offsets, order)
    return ingest.TokenizedSplit(tokens, offsets, split.labels[order])


def save_multi_hot(path, matrix: MultiHot) -> None:
    artifacts.save_arrays(
        path,
        indices=matrix.indices,
        indptr=matrix.indptr,
        labels=matrix.labels,
        num_words=np.int64(matrix.num_words),
    )


def load_multi_hot(path) -> MultiHot:
    arrays = artifacts.load_arrays(path)
    return MultiHot(arrays["indices"], arrays["indptr"], arrays["labels"], int(arrays["num_words"]))


def token_id_bound(vocabulary: int) -> int:
    """One more than the largest token id a vocabulary of this many words gives (ranks from 1, + INDEX_FROM)."""
    return vocabulary + text.INDEX_FROM + 1


def check_sizes(config: PipelineConfig, train_reviews: int, vocabulary: int) -> None:
    if config.validation_size >= train_reviews:
        raise PipelineInputError(
            f"validation_size={config.validation_size} leaves no training reviews: the training split has "
            f"{train_reviews}. Use a validation_size below {train_reviews} (the book: 10000 of 25000)."
        )
    largest = token_id_bound(vocabulary)
    if config.ngrams == 1 and config.num_words > largest:  # bigrams give many more features than words
        raise PipelineInputError(
            f"num_words={config.num_words} is larger than the vocabulary ({vocabulary} training words + "
            f"{text.INDEX_FROM + 1} reserved ids = {largest}): use num_words <= {largest}."
        )


def vectorize(inputs: dict[str, str], config: PipelineConfig, out: artifacts.StageOutput) -> dict[str, str]:
    """Write ``train.npz`` (shuffled; validation first) and ``test.npz`` as sparse multi-hot, and
    ``features.npz`` (the bigram table) when ``ngrams=2``."""
    train = ingest.load_split(inputs["train_tokens"])
    vocabulary = len(artifacts.read_json(inputs["word_index"]))
    check_sizes(config, len(train), vocabulary)
    features = None
    if config.ngrams == 2:
        features = FeatureTable.fit(train, config.num_words, id_bound=token_id_bound(vocabulary))
        features.save(out.path("features", "features.npz"))
        log.info(
            "features: %d words and %d bigrams",
            int((features.keys < features.id_bound).sum()),
            int((features.keys >= features.id_bound).sum()),
        )
    for name, split in (
        ("train", shuffled(train, config.seed)),
        ("test", ingest.load_split(inputs["test_tokens"])),
    ):
        matrix = multi_hot(split, config.num_words, features)
        save_multi_hot(out.path(f"{name}_multi_hot", f"{name}.npz"), matrix)
        log.info(
            "%s: %d x %d multi-hot, %d ones (%.1f per review, %.2f MB on disk)",
            name,
            len(matrix),
            config.num_words,
            len(matrix.indices),
            len(matrix.indices) / max(len(matrix), 1),
            (matrix.indices.nbytes + matrix.indptr.nbytes) / 1e6,
        )
    out.extra["summary"] = {
        "validation_size": config.validation_size,
        "num_words": config.num_words,
        "ngrams": config.ngrams,
    }
    return out.final_paths()
