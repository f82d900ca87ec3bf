"""A saved model and what it needs to score raw review text, each file checked before it is used.

A model folder (a run's ``train/`` or a champion's version) holds ``model.keras``,
``word_index.json``, for an n-gram model ``features.npz``, and ``manifest.json`` with the sha256 of
each. A file that differs from its manifest is refused (an edited word index would silently change
every score), as is a word index, feature table or model that the pipeline cannot have written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.features import tokenizer
from imdb_pipeline.features.multi_hot import MultiHot, multi_hot
from imdb_pipeline.features.ngram_features import FeatureTable
from imdb_pipeline.features.tokenized import TokenizedSplit
from imdb_pipeline.features.word_table import WordTable
from imdb_pipeline.store import artifacts
from imdb_pipeline.store.model_store import MODEL_FILES

PREDICT_BATCH = 8192
SCORED_FILES = ("model", "word_index", "features")  # of model_store.MODEL_FILES: what scoring reads
RESTORE = "retrain it (for the champion: `python -m imdb_pipeline.store.model_store --rollback`)"


def verified_files(model_path: Path) -> dict[str, Path]:
    """The files scoring reads from the model's folder, each matching the folder's manifest."""
    folder = model_path.parent
    if not model_path.is_file():
        raise PipelineInputError(
            f"model {model_path} does not exist: give the model.keras of a finished run."
        )
    if not (folder / artifacts.MANIFEST).is_file():
        raise PipelineInputError(
            f"{folder} has no {artifacts.MANIFEST}: give the model.keras of a finished train stage or of "
            "the champion (their folders list the sha256 of each file)."
        )
    listed = artifacts.read_manifest(folder)["files"]
    files = {}
    for name in SCORED_FILES:
        filename = MODEL_FILES[name]
        path = folder / filename
        if name == "features" and filename not in listed and not path.exists():
            continue  # a unigram model
        entry = listed.get(filename)
        if not path.is_file():
            raise PipelineInputError(f"{path} is missing: the model's folder is incomplete; {RESTORE}.")
        if not isinstance(entry, dict):
            raise PipelineInputError(
                f"{path} is not listed in {folder / artifacts.MANIFEST}: it is not part of the saved model; "
                f"{RESTORE}."
            )
        if artifacts.sha256_file(path) != entry.get("sha256"):
            raise PipelineInputError(
                f"{path} does not match the sha256 in {folder / artifacts.MANIFEST}: it changed after the "
                f"model was saved, and its scores could be wrong; {RESTORE}."
            )
        files[name] = path
    return files


def read_word_index(path: Path) -> dict[bytes, int]:
    """The word -> rank table of training (a JSON object of words and ranks >= 1), keyed as bytes."""
    try:
        word_index = artifacts.read_json(path)
        if not isinstance(word_index, dict):
            raise ValueError(f"a JSON {type(word_index).__name__}, not an object")
        for word, rank in word_index.items():
            if type(rank) is not int or rank < 1:
                raise ValueError(f"{word!r} has the rank {rank!r}, not a whole number >= 1")
        return tokenizer.rank_from_word_index(word_index)
    except ValueError as err:  # JSON syntax, UTF-8 and content alike
        raise PipelineInputError(
            f"{path} is not a word index ({err}): it must be the word_index.json the train stage wrote."
        ) from None


def input_width(model: Any, path: Path) -> int:
    """The model's multi-hot width; a model that does not map (batch, width) to (batch, 1) is refused."""
    shape, output = model.input_shape, model.output_shape
    if not (
        isinstance(shape, tuple)
        and len(shape) == 2
        and isinstance(shape[1], int)
        and shape[1] > tokenizer.OOV
        and tuple(output) == (None, 1)
    ):
        raise PipelineInputError(
            f"{path} maps inputs of shape {shape} to {output}: a model of this pipeline maps "
            "(None, num_words) multi-hot rows to (None, 1) probabilities."
        )
    return int(shape[1])


def feature_table(path: Path, num_words: int, word_rank: dict[bytes, int]) -> FeatureTable:
    """An n-gram model's feature table, checked against the model and the word index."""
    table = FeatureTable.load(path)
    largest_id = max(word_rank.values(), default=0) + tokenizer.INDEX_FROM
    if table.num_words != num_words or largest_id >= table.id_bound:
        raise PipelineInputError(
            f"{path} does not belong to its model: {table.num_words} columns for a model of {num_words}, "
            f"word ids below {table.id_bound} for a word index reaching {largest_id}; {RESTORE}."
        )
    return table


class Scorer:
    """Review texts -> the model's multi-hot rows -> probabilities (a weighted model scales them
    itself: its column weights are part of the saved model).

    Words get their training ranks from a ``word_table.WordTable``, then columns as in ``vectorize``: a
    word model's from the token ids, an n-gram model's through its ``FeatureTable``.
    """

    def __init__(self, model_path: Path):
        from imdb_model import load_model

        model_path = Path(model_path).resolve()  # the champion link may move meanwhile: not its folder
        files = verified_files(model_path)
        self.word_rank = read_word_index(files["word_index"])
        self.words = WordTable(self.word_rank)
        try:
            self.model = load_model(str(model_path))
        except Exception as err:  # Keras raises several types for a file that is not a model
            raise PipelineInputError(f"{model_path} could not be loaded as a Keras model ({err}).") from None
        self.num_words = input_width(self.model, model_path)
        self.features = None
        if "features" in files:
            self.features = feature_table(files["features"], self.num_words, self.word_rank)
        try:  # traces the compiled call once; a model that cannot take these rows fails here
            self.probabilities([""])
        except Exception as err:
            raise PipelineInputError(
                f"{model_path} cannot score multi-hot rows of width {self.num_words} ({err})."
            ) from None

    def rows(self, reviews: list[str]) -> MultiHot:
        """The reviews' multi-hot rows: those ``vectorize`` makes from ``ingest``'s tokens."""
        return self.rows_of_ranks(*self.words.lookup(reviews))

    def rows_of_ranks(self, lengths: np.ndarray, ranks: np.ndarray) -> MultiHot:
        """Multi-hot rows of reviews of these lengths (in words) from their words' ranks (0: a word
        never seen in training, skipped as ``ingest`` skips it)."""
        tokens, offsets = tokenizer.tokens_from_ranks(ranks, lengths)
        split = TokenizedSplit(tokens, offsets, np.zeros(len(lengths), dtype=np.uint8))
        return multi_hot(split, self.num_words, self.features)

    def predict(self, rows: MultiHot) -> np.ndarray:
        """P(positive) of each row (float32): the model called on large sparse batches."""
        from imdb_model.training import predict_probabilities

        return predict_probabilities(
            self.model, rows.indices, rows.indptr, self.num_words, batch_size=PREDICT_BATCH
        )

    def probabilities(self, reviews: list[str]) -> np.ndarray:
        """P(positive) of each review (float32)."""
        return self.predict(self.rows(reviews))

    def score_counting(self, reviews: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
        """(P(positive) of each review, each review's length in words, how many of their words are out
        of vocabulary), from one word lookup: finding the words of raw text is the largest cost of
        scoring it, so a batch's statistics come from the same ranks as its rows. A word is out of
        vocabulary when the model has no column of its own for it: never seen in training (rank 0)
        or its token id is past ``num_words`` (the shared OOV column)."""
        lengths, ranks = self.words.lookup(reviews)
        out_of_vocabulary = (ranks == 0) | (ranks + tokenizer.INDEX_FROM >= self.num_words)
        probabilities = self.predict(self.rows_of_ranks(lengths, ranks))
        return probabilities, lengths, int(np.count_nonzero(out_of_vocabulary))
