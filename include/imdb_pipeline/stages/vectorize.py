"""Vectorize: token sequences -> multi-hot rows over the top ``num_words``, stored sparse.

The book's ``vectorize_sequences`` builds a dense float64 25,000 x 10,000 matrix (2 GB per split)
in which 99 % of the entries are 0. Here a split is a CSR matrix of its 1s: the column indices
(uint16 when ``num_words`` fits) and row pointers, about 7 MB per split. The training rows are
shuffled with the seed, and the first ``validation_size`` of them are the validation set, as
the book's ``x_val = x_train[:10000]``.

With ``ngrams`` 2 or 3 the columns are words and n-grams, chosen by ``features.FeatureTable``. The
rows stay 0/1: a ``weighting`` (tf-idf, Naive-Bayes ratios) is fitted by train on the rows it trains
on and saved inside the model, so validation rows never inform it.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import scipy.sparse

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.core.parameters import PipelineConfig
from imdb_pipeline.features import tokenizer
from imdb_pipeline.features.ngram_features import FeatureTable, sorted_unique, token_chunks
from imdb_pipeline.features.tokenized import TokenizedSplit, load_split
from imdb_pipeline.store import artifacts

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


def multi_hot(split: TokenizedSplit, num_words: int, features: FeatureTable | None = None) -> MultiHot:
    """Unique features per review as CSR: token ids, ids >= num_words folded into OOV (2); or,
    given a ``FeatureTable``, its words and n-grams. Any number of reviews, none included."""
    parts = []
    for tokens, rows, labels in token_chunks(split):
        if features is None:
            columns = np.where(tokens < num_words, tokens, tokenizer.OOV)
        else:
            rows, columns = features.pairs(tokens, rows)
        parts.append(multi_hot_from_pairs(rows, columns, labels, num_words))
    if len(parts) == 1:
        return parts[0]
    shifts = np.cumsum([0] + [int(part.indptr[-1]) for part in parts], dtype=np.int64)[:-1]
    return MultiHot(
        np.concatenate([part.indices for part in parts]) if parts else np.zeros(0, index_dtype(num_words)),
        np.concatenate([[0]] + [part.indptr[1:] + shift for part, shift in zip(parts, shifts, strict=True)]),
        split.labels,
        num_words,
    )


def index_dtype(num_words: int) -> type:
    """uint16 column indices when every column fits, else int32."""
    return np.uint16 if num_words <= np.iinfo(np.uint16).max + 1 else np.int32


def multi_hot_from_pairs(
    rows: np.ndarray, columns: np.ndarray, labels: np.ndarray, num_words: int
) -> MultiHot:
    """CSR multi-hot rows from (row, column) pairs, duplicates allowed, in any order."""
    keys = sorted_unique(rows.astype(np.int64) * num_words + columns.astype(np.int64))
    unique_rows, unique_columns = np.divmod(keys, num_words)
    indptr = np.zeros(len(labels) + 1, dtype=np.int64)
    np.cumsum(np.bincount(unique_rows, minlength=len(labels)), out=indptr[1:])
    return MultiHot(unique_columns.astype(index_dtype(num_words)), indptr, labels, num_words)


def shuffled(split: TokenizedSplit, seed: int) -> TokenizedSplit:
    """The split's reviews in a seeded random order (the validation split must mix both classes)."""
    order = np.random.default_rng(seed).permutation(len(split))
    tokens, offsets = tokenizer.reorder(split.tokens, split.offsets, order)
    return TokenizedSplit(tokens, offsets, split.labels[order])


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
    """One more than the largest token id of a vocabulary this size (ranks from 1, + INDEX_FROM)."""
    return vocabulary + tokenizer.INDEX_FROM + 1


def check_sizes(config: PipelineConfig, train_reviews: int, vocabulary: int) -> None:
    if config.validation_size >= train_reviews:
        raise PipelineInputError(
            f"validation_size={config.validation_size} leaves no training reviews: the training split has "
            f"{train_reviews}. Use a validation_size below {train_reviews} (the book: 10000 of 25000)."
        )
    largest = token_id_bound(vocabulary)
    if config.ngrams == 1 and config.num_words > largest:  # n-grams give many more features than words
        raise PipelineInputError(
            f"num_words={config.num_words} is larger than the vocabulary ({vocabulary} training words + "
            f"{tokenizer.INDEX_FROM + 1} reserved ids = {largest}): use num_words <= {largest}."
        )


def vectorize(inputs: dict[str, str], config: PipelineConfig, out: artifacts.StageOutput) -> dict[str, str]:
    """Write ``train.npz`` (shuffled; validation first) and ``test.npz`` as sparse multi-hot, and
    ``features.npz`` (the n-gram table) when ``ngrams`` > 1."""
    train = load_split(inputs["train_tokens"])
    vocabulary = len(artifacts.read_json(inputs["word_index"]))
    check_sizes(config, len(train), vocabulary)
    features = None
    if config.ngrams > 1:
        features = FeatureTable.fit(
            train, config.num_words, id_bound=token_id_bound(vocabulary), ngrams=config.ngrams
        )
        features.save(out.path("features", "features.npz"))
        log.info(
            "features: %d words and %d n-grams",
            int((features.keys < features.id_bound).sum()),
            int((features.keys >= features.id_bound).sum()),
        )
    for name, split in (
        ("train", shuffled(train, config.seed)),
        ("test", load_split(inputs["test_tokens"])),
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
