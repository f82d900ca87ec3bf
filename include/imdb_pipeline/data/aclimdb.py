"""The raw aclImdb dataset (a folder or a tarball) -> tokenized splits and the word index.

Tokenized as Keras' ``imdb.npz`` was made (see ``features.tokenizer``): one streaming pass reads both
splits and encodes them chunk by chunk with provisional word ids; the ids become Keras ranks once the
training split's word counts are known.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.data.aclimdb_directory import iter_directory
from imdb_pipeline.data.aclimdb_layout import LABELS, SPLITS, Review
from imdb_pipeline.data.aclimdb_tarball import iter_tarball
from imdb_pipeline.data.input_limits import InputLimits
from imdb_pipeline.features import tokenizer
from imdb_pipeline.features.tokenized import TokenizedSplit

log = logging.getLogger(__name__)

# Reviews are tokenized in chunks as they are read: memory holds one chunk of text, not the corpus.
CHUNK_REVIEWS = 5000


def iter_reviews(path: Path, limits: InputLimits | None = None) -> Iterator[Review]:
    """The labeled reviews of an aclImdb folder or tarball (``unsup`` and other files ignored),
    within ``limits`` (by default those of the worker's environment)."""
    limits = limits or InputLimits.from_env()
    return iter_directory(path, limits) if path.is_dir() else iter_tarball(path, limits)


class SplitBuilder:
    """One split's reviews, encoded chunk by chunk (provisional word ids) as they are read."""

    def __init__(self, name: str, vocabulary: tokenizer.Vocabulary):
        self.name, self.vocabulary = name, vocabulary
        self.paths: list[str] = []
        self.labels: list[int] = []
        self.undecodable = 0
        self._texts: list[str] = []
        self._ids: list[np.ndarray] = []
        self._lengths: list[np.ndarray] = []

    def add(self, label: int, path: str, raw: bytes) -> None:
        try:
            review = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.undecodable += 1
            review = raw.decode("utf-8", errors="replace")
        self._texts.append(review)
        self.paths.append(path)
        self.labels.append(label)
        if len(self._texts) >= CHUNK_REVIEWS:
            self.flush()

    def flush(self) -> None:
        if self._texts:
            ids, lengths = self.vocabulary.add(tokenizer.split_words(self._texts))
            self._ids.append(ids)
            self._lengths.append(lengths)
            self._texts = []

    def ids(self) -> np.ndarray:
        return np.concatenate(self._ids) if self._ids else np.zeros(0, np.int32)

    def tokenized(self, rank_of_id: np.ndarray) -> TokenizedSplit:
        """Keras token ids, reviews in a canonical order (by path: a folder and its tarball agree).
        Chunk by chunk, so the int64 temporaries stay the size of a chunk."""
        token_chunks, length_chunks = [], []
        while self._ids:
            tokens, offsets = tokenizer.tokens_from_ids(self._ids.pop(0), self._lengths.pop(0), rank_of_id)
            token_chunks.append(tokens)
            length_chunks.append(np.diff(offsets))
        tokens = np.concatenate(token_chunks) if token_chunks else np.zeros(0, np.int32)
        offsets = np.zeros(len(self.paths) + 1, dtype=np.int64)
        np.cumsum(np.concatenate(length_chunks) if length_chunks else [], out=offsets[1:])
        del token_chunks
        order = np.array(sorted(range(len(self.paths)), key=self.paths.__getitem__), dtype=np.int64)
        tokens, offsets = tokenizer.reorder(tokens, offsets, order)
        return TokenizedSplit(tokens, offsets, np.asarray(self.labels, dtype=np.uint8)[order])

    def check(self, source: Path) -> None:
        if not self.labels:
            raise PipelineInputError(
                f"{source} has no {self.name} reviews (expected {self.name}/pos/*.txt and "
                f"{self.name}/neg/*.txt): is this the Large Movie Review Dataset?"
            )
        missing = sorted(name for name, value in LABELS.items() if value not in self.labels)
        if missing:
            raise PipelineInputError(
                f"{source}: the {self.name} split has no {'/'.join(missing)} reviews, so a classifier cannot "
                f"learn both classes. Check {self.name}/{missing[0]}/ in the dataset."
            )
        if self.undecodable:
            log.warning(
                "%s: %d %s reviews were not valid UTF-8; decoded with replacement characters",
                source,
                self.undecodable,
                self.name,
            )


def read_aclimdb(path: Path, limits: InputLimits) -> tuple[dict[str, TokenizedSplit], dict[str, int], dict]:
    """(tokenized splits, word index, facts for the summary): words ranked on the training split."""
    vocabulary = tokenizer.Vocabulary()
    builders = {split: SplitBuilder(split, vocabulary) for split in SPLITS}
    for review in iter_reviews(path, limits):
        builders[review.split].add(review.label, review.path, review.raw)
    for builder in builders.values():
        builder.flush()
        builder.check(path)
    rank_of_id, word_rank = vocabulary.ranks(builders["train"].ids())
    splits = {name: builder.tokenized(rank_of_id) for name, builder in builders.items()}
    facts = {"undecodable_reviews": {name: builder.undecodable for name, builder in builders.items()}}
    return splits, tokenizer.word_index_json(word_rank), facts
