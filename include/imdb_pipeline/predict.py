"""Score raw review text with a trained model: one review per input line, one JSON line out each.

    python -m imdb_pipeline.predict --model RUN/train/model.keras --input reviews.txt
    echo "A wonderful, moving film." | python -m imdb_pipeline.predict --model RUN/train/model.keras

The text is tokenized exactly as in training, with the ``word_index.json`` saved beside the model.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Iterable, Iterator, TextIO

import numpy as np

from imdb_pipeline import artifacts, ingest, text, vectorize
from imdb_pipeline.errors import PipelineInputError

BATCH_LINES = 8192
PREDICT_BATCH = 8192


class Scorer:
    """A saved model and its word index, turning review texts into probabilities."""

    def __init__(self, model_path: Path, word_index_path: Path | None = None):
        from imdb_pipeline.evaluate import load_model

        model_path = Path(model_path)
        if not model_path.is_file():
            raise PipelineInputError(f"model {model_path} does not exist: give the model.keras of a finished run.")
        word_index_path = word_index_path or model_path.with_name("word_index.json")
        if not word_index_path.is_file():
            raise PipelineInputError(
                f"{word_index_path} is missing: the model's word index must lie beside it (the train stage puts it there)."
            )
        try:
            self.model = load_model(str(model_path))
        except Exception as err:  # Keras raises several types for a file that is not a model
            raise PipelineInputError(f"{model_path} could not be loaded as a Keras model ({err}).") from None
        self.word_index = artifacts.read_json(word_index_path)
        self.word_rank = text.rank_from_word_index(self.word_index)
        self.num_words = int(self.model.input_shape[-1])

    def probabilities(self, reviews: list[str]) -> np.ndarray:
        from imdb_model.imdb_model_training import predict_probabilities

        tokens, offsets = text.encode_texts(reviews, self.word_rank)
        labels = np.zeros(len(reviews), dtype=np.uint8)
        rows = vectorize.multi_hot(ingest.TokenizedSplit(tokens, offsets, labels), self.num_words)
        return predict_probabilities(self.model, rows.indices, rows.indptr, self.num_words, batch_size=PREDICT_BATCH)


def _batches(lines: Iterable[str]) -> Iterator[list[str]]:
    iterator = iter(lines)
    while batch := list(itertools.islice(iterator, BATCH_LINES)):
        yield [line.rstrip("\n") for line in batch]


def score_lines(scorer: Scorer, lines: Iterable[str], out: TextIO) -> int:
    scored = 0
    for batch in _batches(lines):
        for probability in scorer.probabilities(batch):
            value = float(probability)
            out.write(json.dumps({"probability": round(value, 6), "label": "positive" if value >= 0.5 else "negative"}) + "\n")
        scored += len(batch)
    return scored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a model.keras written by the train stage")
    parser.add_argument("--input", type=Path, help="a text file, one review per line (default: stdin)")
    parser.add_argument("--word-index", type=Path, help="default: word_index.json beside the model")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if args.input is not None and not args.input.is_file():
            raise PipelineInputError(f"input {args.input} does not exist: give a text file with one review per line.")
        scorer = Scorer(args.model, args.word_index)
        with (open(args.input, encoding="utf-8", errors="replace") if args.input else sys.stdin) as source:
            scored = score_lines(scorer, source, sys.stdout)
        if scored == 0:
            raise PipelineInputError(f"no reviews in {args.input or 'stdin'}: give one review per line.")
    except PipelineInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
