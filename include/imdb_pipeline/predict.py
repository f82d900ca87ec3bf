"""Score raw review text with a trained model: one review per input line, one JSON line out each.

    python -m imdb_pipeline.predict --input reviews.txt          # the champion model
    echo "A wonderful, moving film." | python -m imdb_pipeline.predict --model RUN/train/model.keras

The model is loaded by ``scorer.Scorer``, which checks its folder's manifest first. The input is
read as UTF-8 in chunks of bounded size, so memory does not grow with the input; a line longer than
``--max-review-bytes`` or one that is not UTF-8 stops the run with a message naming the line.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from imdb_pipeline import champion
from imdb_pipeline.errors import PipelineInputError
from imdb_pipeline.scorer import Scorer

MAX_REVIEW_BYTES = 1 << 20
# A chunk ends at whichever limit comes first. Its words are Python objects, many times the size of
# the text: small chunks keep the memory above TensorFlow's own small, and cost no speed.
CHUNK_LINES = 2000
CHUNK_BYTES = 4 << 20


def review_chunks(
    stream: BinaryIO, name: str, max_review_bytes: int = MAX_REVIEW_BYTES
) -> Iterator[list[str]]:
    """The input's lines as decoded reviews, a chunk at a time (bounded by CHUNK_LINES and CHUNK_BYTES)."""
    chunk: list[str] = []
    size = 0
    number = 0
    while line := stream.readline(max_review_bytes + 1):
        number += 1
        review = line[:-1] if line.endswith(b"\n") else line
        if len(review) > max_review_bytes:
            raise PipelineInputError(
                f"line {number} of {name} is longer than {max_review_bytes} bytes: give one review per "
                "line, or allow longer reviews with --max-review-bytes."
            )
        if number == 1 and review.startswith(codecs.BOM_UTF8):
            review = review[len(codecs.BOM_UTF8) :]
        try:
            chunk.append(review.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise PipelineInputError(
                f"line {number} of {name} is not UTF-8 text (byte 0x{review[err.start]:02x} at byte "
                f"{err.start + 1} of the line): convert the input to UTF-8, e.g. with "
                "`iconv -f latin1 -t utf-8`."
            ) from None
        size += len(review)
        if len(chunk) >= CHUNK_LINES or size >= CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def write_scores(scorer: Scorer, chunks: Iterable[list[str]], out: TextIO) -> int:
    """One JSON line per review (``probability``, ``label``); returns how many were scored."""
    scored = 0
    for chunk in chunks:
        lines = []
        for probability in scorer.probabilities(chunk):
            value = float(probability)
            label = "positive" if value >= 0.5 else "negative"
            lines.append(json.dumps({"probability": round(value, 6), "label": label}) + "\n")
        out.write("".join(lines))
        scored += len(chunk)
    return scored


def champion_model() -> Path:
    """The champion's model, the default for scoring: resolved once, so a promotion while this
    runs changes nothing for it. (Its folder's files are checked by ``Scorer``.)"""
    link = champion.champion_dir()
    if not link.is_symlink() and not link.exists():
        raise PipelineInputError(
            f"there is no champion model yet ({link}): run the imdb_sentiment DAG until a model is "
            "blessed, or give --model."
        )
    folder = link.resolve()
    if not folder.is_dir():
        raise PipelineInputError(
            f"the champion link {link} points at {folder}, which does not exist: promote a model again, "
            "or give --model."
        )
    return folder / "model.keras"


@contextlib.contextmanager
def open_input(path: Path | None) -> Iterator[BinaryIO]:
    if path is None:
        yield sys.stdin.buffer
        return
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below; open errors become one message)
    except OSError as err:
        raise PipelineInputError(
            f"input {path} cannot be read ({err.strerror}): give a text file with one review per line."
        ) from None
    with handle:
        yield handle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        type=Path,
        help="a model.keras written by the train stage (default: the champion's, "
        "<artifact root>/champion/model.keras)",
    )
    parser.add_argument("--input", type=Path, help="a UTF-8 text file, one review per line (default: stdin)")
    parser.add_argument(
        "--max-review-bytes",
        type=int,
        default=MAX_REVIEW_BYTES,
        help=f"refuse longer lines (default {MAX_REVIEW_BYTES})",
    )
    args = parser.parse_args(argv)
    if args.max_review_bytes < 1:
        parser.error("--max-review-bytes must be a positive number of bytes")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    name = str(args.input or "stdin")
    try:
        scorer = Scorer(args.model or champion_model())
        with open_input(args.input) as source:
            scored = write_scores(scorer, review_chunks(source, name, args.max_review_bytes), sys.stdout)
        if scored == 0:
            raise PipelineInputError(f"no reviews in {name}: give one review per line.")
        sys.stdout.flush()
    except PipelineInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
