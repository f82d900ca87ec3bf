"""Score raw review text with a trained model: one review per input line, one JSON line out each.

    python -m imdb_pipeline.predict --input reviews.txt          # the champion model
    echo "A wonderful, moving film." | python -m imdb_pipeline.predict --model RUN/train/model.keras

The text is tokenized exactly as in training, with the ``word_index.json`` saved beside the model.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TextIO

import numpy as np

from imdb_pipeline import artifacts, ingest, text, vectorize
from imdb_pipeline.errors import PipelineInputError

BATCH_LINES = 25000
PREDICT_BATCH = 8192


def multi_hot_of_texts(
    reviews: list[str], column_of_word: dict[bytes, int], num_words: int
) -> vectorize.MultiHot:
    """The reviews' multi-hot rows, as ``vectorize`` makes them from ``ingest``'s tokens."""
    docs = text.split_words(reviews)
    lengths = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
    words = list(itertools.chain.from_iterable(docs))
    columns = np.fromiter(
        map(column_of_word.get, words, itertools.repeat(0)), dtype=np.int64, count=len(words)
    )
    rows = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
    known = columns > 0  # words never seen in training are skipped; every review has START
    rows = np.concatenate([rows[known], np.arange(len(docs), dtype=np.int64)])
    columns = np.concatenate([columns[known], np.full(len(docs), text.START, dtype=np.int64)])
    return vectorize.multi_hot_from_pairs(rows, columns, np.zeros(len(docs), dtype=np.uint8), num_words)


class Featurizer:
    """Review texts -> the model's multi-hot rows: word columns looked up directly, or, for a
    bigram model (``features.npz`` beside it), tokens encoded then mapped by its ``FeatureTable``."""

    def __init__(
        self, word_rank: dict[bytes, int], num_words: int, features: vectorize.FeatureTable | None = None
    ):
        self.num_words = num_words
        self.features = features
        self.word_rank = word_rank if features is not None else {}
        # word -> its multi-hot column (ranks past num_words share OOV): one lookup per word.
        self.column_of_word = (
            {}
            if features is not None
            else {
                word: (rank + text.INDEX_FROM if rank + text.INDEX_FROM < num_words else text.OOV)
                for word, rank in word_rank.items()
            }
        )

    def __call__(self, reviews: list[str]) -> vectorize.MultiHot:
        if self.features is None:
            return multi_hot_of_texts(reviews, self.column_of_word, self.num_words)
        tokens, offsets = text.encode_texts(reviews, self.word_rank)
        split = ingest.TokenizedSplit(tokens, offsets, np.zeros(len(reviews), dtype=np.uint8))
        return vectorize.multi_hot(split, self.num_words, self.features)


# The second process's featurizer (set once by the pool's initializer).
_WORKER: dict[str, Featurizer] = {}


def _init_worker(featurizer: Featurizer) -> None:
    _WORKER["featurizer"] = featurizer


def _worker_multi_hot(reviews: list[str]) -> tuple[np.ndarray, np.ndarray]:
    rows = _WORKER["featurizer"](reviews)
    return rows.indices, rows.indptr


def champion_model() -> Path:
    """The champion's model (``<artifact root>/champion/model.keras``), the default for scoring."""
    from imdb_pipeline import champion

    if champion.current() is None:
        raise PipelineInputError(
            f"there is no champion model yet ({champion.champion_dir()}): run the imdb_sentiment DAG until "
            "a model is blessed, or give --model."
        )
    return (
        champion.champion_dir().resolve() / "model.keras"
    )  # resolved: a promotion meanwhile changes nothing


class Scorer:
    """A saved model and its word index, turning review texts into probabilities.

    Tokenizing dominates scoring, so large batches are tokenized half here and half in a second
    process (started once, with the word table), when the machine has a second core.
    """

    PARALLEL_MIN_REVIEWS = 2000

    def __init__(self, model_path: Path, word_index_path: Path | None = None, parallel: bool = True):
        from imdb_pipeline.evaluate import load_model

        model_path = Path(model_path)
        if not model_path.is_file():
            raise PipelineInputError(
                f"model {model_path} does not exist: give the model.keras of a finished run."
            )
        word_index_path = word_index_path or model_path.with_name("word_index.json")
        if not word_index_path.is_file():
            raise PipelineInputError(
                f"{word_index_path} is missing: the model's word index must lie beside it (the train stage puts it there)."
            )
        try:
            self.model = load_model(str(model_path))
        except Exception as err:  # Keras raises several types for a file that is not a model
            raise PipelineInputError(f"{model_path} could not be loaded as a Keras model ({err}).") from None
        self.num_words = int(self.model.input_shape[-1])
        features_path = model_path.with_name("features.npz")
        features = vectorize.FeatureTable.load(features_path) if features_path.is_file() else None
        self.word_rank = text.rank_from_word_index(artifacts.read_json(word_index_path))
        self.featurize = Featurizer(self.word_rank, self.num_words, features)
        self._pool = None
        if parallel and (os.cpu_count() or 1) > 1:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(
                1, mp_context=context, initializer=_init_worker, initargs=(self.featurize,)
            )
            self._pool.submit(_worker_multi_hot, []).result()  # started and ready

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def features(self, reviews: list[str]) -> vectorize.MultiHot:
        if self._pool is None or len(reviews) < self.PARALLEL_MIN_REVIEWS:
            return self.featurize(reviews)
        half = len(reviews) // 2
        second = self._pool.submit(_worker_multi_hot, reviews[half:])
        first = self.featurize(reviews[:half])
        indices, indptr = second.result()
        return vectorize.MultiHot(
            np.concatenate([first.indices, indices]),
            np.concatenate([first.indptr, indptr[1:] + first.indptr[-1]]),
            np.zeros(len(reviews), dtype=np.uint8),
            self.num_words,
        )

    def probabilities(self, reviews: list[str]) -> np.ndarray:
        from imdb_model.imdb_model_training import predict_probabilities

        rows = self.features(reviews)
        return predict_probabilities(
            self.model, rows.indices, rows.indptr, self.num_words, batch_size=PREDICT_BATCH
        )


def _batches(lines: Iterable[str]) -> Iterator[list[str]]:
    iterator = iter(lines)
    while batch := list(itertools.islice(iterator, BATCH_LINES)):
        yield [line.rstrip("\n") for line in batch]


def score_lines(scorer: Scorer, lines: Iterable[str], out: TextIO) -> int:
    scored = 0
    for batch in _batches(lines):
        for probability in scorer.probabilities(batch):
            value = float(probability)
            out.write(
                json.dumps(
                    {"probability": round(value, 6), "label": "positive" if value >= 0.5 else "negative"}
                )
                + "\n"
            )
        scored += len(batch)
    return scored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        type=Path,
        help="a model.keras written by the train stage (default: the champion's, "
        "<artifact root>/champion/model.keras)",
    )
    parser.add_argument("--input", type=Path, help="a text file, one review per line (default: stdin)")
    parser.add_argument("--word-index", type=Path, help="default: word_index.json beside the model")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if args.model is None:
            args.model = champion_model()
        if args.input is not None and not args.input.is_file():
            raise PipelineInputError(
                f"input {args.input} does not exist: give a text file with one review per line."
            )
        with (
            Scorer(args.model, args.word_index) as scorer,
            open(args.input, encoding="utf-8", errors="replace") if args.input else sys.stdin as source,
        ):
            scored = score_lines(scorer, source, sys.stdout)
        if scored == 0:
            raise PipelineInputError(f"no reviews in {args.input or 'stdin'}: give one review per line.")
    except PipelineInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
