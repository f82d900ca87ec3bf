"""Multi-hot rows: each review's unique columns (words, or words and n-grams), stored as CSR.

The book's ``vectorize_sequences`` builds a dense float64 25,000 x 10,000 matrix (2 GB per split) in
which 99 % of the entries are 0. Here a split is the column indices of its 1s (uint16 when
``num_words`` fits) and row pointers, a few MB; ``vectorize`` writes them, ``train``, ``evaluate``
and the scorer read or make them the same way.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.features import tokenizer
from imdb_pipeline.features.ngram_features import FeatureTable, sorted_unique, token_chunks
from imdb_pipeline.features.tokenized import TokenizedSplit
from imdb_pipeline.store import artifacts

if TYPE_CHECKING:
    import scipy.sparse


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
        """float32 CSR rows (a fresh data array; indices and pointers are views or slices).

        Nothing in the pipeline needs it: it is the reference the tests pin the fast paths against
        (the compiled scorer against Keras' own ``model.predict`` on these rows, the book's
        ``vectorize_sequences`` against them). scipy is imported here, not by every stage process."""
        import scipy.sparse

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


def check_multi_hot(data: MultiHot, what: str) -> None:
    """Refuse rows whose arrays disagree (labels vs rows, pointers vs ids, ids vs width, labels not
    0/1): stages read files another process wrote, and such a mismatch would train on garbage."""
    rows = len(data.indptr) - 1
    problem = None
    if rows != len(data.labels):
        problem = f"{rows} rows but {len(data.labels)} labels"
    elif rows < 0 or data.indptr[0] != 0 or data.indptr[-1] != len(data.indices):
        problem = f"row pointers do not span its {len(data.indices)} column ids"
    elif np.any(np.diff(data.indptr) < 0):
        problem = "row pointers that go backwards"
    elif len(data.indices) and int(data.indices.max()) >= data.num_words:
        problem = f"a column id {int(data.indices.max())} >= its width num_words={data.num_words}"
    elif len(data.labels) and not np.isin(data.labels, (0, 1)).all():
        problem = "labels other than 0 and 1"
    if problem:
        raise PipelineInputError(f"{what} is inconsistent: {problem}. Run vectorize again for this run.")
