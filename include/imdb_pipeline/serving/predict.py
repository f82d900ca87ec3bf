"""Score raw review text with a trained model: one review per input line, one JSON line out each.

    python -m imdb_pipeline.serving.predict --input reviews.txt          # the champion model
    echo "A wonderful, moving film." | python -m imdb_pipeline.serving.predict --model RUN/train/model.keras

The model is loaded by ``scorer.Scorer``, which checks its folder's manifest first. The input is
read as the inbox reads it (``review_lines``), in chunks of bounded size, so memory does not grow
with the input; a line longer than ``--max-review-bytes``, one that is not UTF-8 or one holding NUL
bytes stops the run with a message naming the line. A blank line is not a review: its output line
has a null probability and label, so output lines stay in step with input lines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from imdb_model.spec import DECISION_THRESHOLD
from imdb_pipeline.core.errors import PipelineInputError, run_cli
from imdb_pipeline.data.input_limits import InputLimits, check_setting
from imdb_pipeline.serving.review_lines import review_lines
from imdb_pipeline.serving.scorer import Scorer
from imdb_pipeline.store import artifacts, model_store

# A chunk ends at whichever limit comes first. Its words are Python objects, many times the size of
# the text: small chunks keep the memory above TensorFlow's own small, and cost no speed.
CHUNK_LINES = 2000
CHUNK_BYTES = 4 << 20
BLANK = None  # a blank line's place in a chunk: answered with a null score, never scored


def review_chunks(
    stream: BinaryIO, name: str, max_review_bytes: int | None = None
) -> Iterator[list[str | None]]:
    """The input's lines as decoded reviews (``BLANK`` for a blank one), a chunk at a time (bounded
    by CHUNK_LINES and CHUNK_BYTES). Lines are read as the inbox reads them (``review_lines``)."""
    limit = max_review_bytes or InputLimits.from_env().review_bytes
    hint = "allow longer reviews with --max-review-bytes (or IMDB_MAX_REVIEW_BYTES)"
    chunk: list[str | None] = []
    size = 0
    for number, line in enumerate(review_lines(stream, name, limit, hint), start=1):
        try:
            review = line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise PipelineInputError(
                f"line {number} of {name} is not UTF-8 text (byte 0x{line[err.start]:02x} at byte "
                f"{err.start + 1} of the line): convert the input to UTF-8, e.g. with "
                "`iconv -f latin1 -t utf-8`."
            ) from None
        chunk.append(review if review.strip() else BLANK)
        size += len(line)
        if len(chunk) >= CHUNK_LINES or size >= CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def write_scores(scorer: Scorer, chunks: Iterable[list[str | None]], out: TextIO) -> int:
    """One JSON line per input line (``probability``, ``label``; both null for a blank line, which
    is not a review); returns how many reviews were scored."""
    scored = 0
    for chunk in chunks:
        reviews = [review for review in chunk if review is not BLANK]
        probabilities = iter(scorer.probabilities(reviews).tolist() if reviews else [])
        lines = []
        for review in chunk:
            if review is BLANK:
                lines.append(json.dumps({"probability": None, "label": None, "blank": True}) + "\n")
                continue
            value = float(next(probabilities))
            label = "positive" if value >= DECISION_THRESHOLD else "negative"
            lines.append(json.dumps({"probability": round(value, 6), "label": label}) + "\n")
        out.write("".join(lines))
        scored += len(reviews)
    return scored


def champion_model() -> Path:
    """The champion's model, the default for scoring: resolved once, so a promotion while this
    runs changes nothing for it. (Its folder's files are checked by ``Scorer``.)"""
    folder = model_store.resolve(artifacts.checked_root())
    if folder is None:
        raise PipelineInputError(
            f"there is no champion model yet ({model_store.champion_dir()}): run the imdb_sentiment DAG "
            "until a model is blessed, or give --model."
        )
    return folder / model_store.MODEL_FILES["model"]


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
        help="refuse longer lines (default: IMDB_MAX_REVIEW_BYTES, else 1 MiB)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return run_cli(_score, args.model, args.input, args.max_review_bytes)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130


def _score(model: Path | None, input_path: Path | None, max_review_bytes: int | None) -> None:
    name = str(input_path or "stdin")
    if max_review_bytes is not None:
        check_setting("review_bytes", max_review_bytes, "--max-review-bytes")
    scorer = Scorer(model or champion_model())
    with open_input(input_path) as source:
        scored = write_scores(scorer, review_chunks(source, name, max_review_bytes), sys.stdout)
    if scored == 0:
        raise PipelineInputError(f"no reviews in {name}: give one review per line.")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
