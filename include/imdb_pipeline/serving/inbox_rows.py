"""An inbox file's lines as reviews with their ids, a chunk at a time, and what reading them saw.

``.txt``: one review a line, its id the line number. ``.jsonl``: one object a line with ``id`` (a
string or a whole number) and ``text``. Blank lines are counted, not scored; bytes that are not
UTF-8 (and lone surrogate escapes in JSON) become U+FFFD and are counted; repeated ids are counted.
A line that cannot be a review raises ``inbox.QuarantineError`` naming its number.
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from imdb_pipeline.data.input_limits import InputLimits
from imdb_pipeline.serving.inbox import QuarantineError
from imdb_pipeline.serving.review_lines import review_lines

CHUNK_LINES = 2000
CHUNK_BYTES = 4 << 20
_SURROGATES = re.compile("[\ud800-\udfff]")
_ERRORS = "imdb_inbox_count"


@dataclasses.dataclass
class ReadCounts:
    """What reading a file saw, besides the reviews it yielded."""

    lines: int = 0
    blank_rows: int = 0
    undecodable_rows: int = 0
    undecodable_bytes: int = 0
    bytes_read: int = 0
    duplicate_ids: int = 0


@dataclasses.dataclass
class Chunk:
    ids: list[Any]
    texts: list[str]


class DuplicateIds:
    """Counts repeated ``.jsonl`` ids in 8 bytes a row (a 64-bit digest of each id)."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []

    def add(self, ids: list[Any]) -> None:
        digests = (
            hashlib.blake2b(
                f"{type(i).__name__}:{i}".encode("utf-8", "surrogatepass"), digest_size=8
            ).digest()
            for i in ids
        )
        self.parts.append(np.frombuffer(b"".join(digests), dtype=np.uint64))

    def duplicates(self) -> int:
        every = np.concatenate(self.parts) if self.parts else np.empty(0, np.uint64)
        return int(every.size - np.unique(every).size)


def _count_undecodable(err: UnicodeError) -> tuple[str, int]:
    _undecodable.append(err.end - err.start)  # type: ignore[attr-defined]
    return "\ufffd", err.end  # type: ignore[attr-defined]


_undecodable: list[int] = []
codecs.register_error(_ERRORS, _count_undecodable)


def _decode(raw: bytes, counts: ReadCounts) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        _undecodable.clear()
        decoded = raw.decode("utf-8", errors=_ERRORS)
        counts.undecodable_rows += 1
        counts.undecodable_bytes += sum(_undecodable)
        return decoded


def _jsonl_row(line: str, number: int, name: str, counts: ReadCounts) -> tuple[Any, str]:
    try:
        record = json.loads(line)
    except ValueError:
        raise QuarantineError(
            f"line {number} of {name} is not JSON: a .jsonl file holds one object a line."
        ) from None
    except RecursionError:
        raise QuarantineError(f"line {number} of {name} is JSON nested too deeply to be a review.") from None
    if not isinstance(record, dict) or "id" not in record or "text" not in record:
        got = sorted(record)[:10] if isinstance(record, dict) else type(record).__name__
        raise QuarantineError(
            f"line {number} of {name} has the wrong columns ({got}): each line needs 'id' and 'text'."
        )
    review_id, review = record["id"], record["text"]
    if isinstance(review_id, bool) or not isinstance(review_id, str | int) or not isinstance(review, str):
        raise QuarantineError(
            f"line {number} of {name}: 'id' must be a string or a whole number and 'text' a string."
        )
    if _SURROGATES.search(review):  # a lone "\ud800" escape: valid JSON, not text
        counts.undecodable_rows += 1
        review = _SURROGATES.sub("\ufffd", review)
    return review_id, review


def chunks(
    stream: io.BufferedReader, name: str, counts: ReadCounts, limits: InputLimits, jsonl: bool
) -> Iterator[Chunk]:
    """The non-blank reviews of ``stream``; ``counts`` is filled as it goes."""
    ids = DuplicateIds() if jsonl else None
    chunk, size = Chunk([], []), 0
    hint = "raise IMDB_MAX_REVIEW_BYTES on the workers"
    for raw in review_lines(stream, name, limits.review_bytes, hint):
        counts.lines += 1
        line = _decode(raw, counts)
        if not line.strip():
            counts.blank_rows += 1
            continue
        review_id, review = (
            _jsonl_row(line, counts.lines, name, counts) if ids is not None else (counts.lines, line)
        )
        if not review.strip():
            counts.blank_rows += 1
            continue
        chunk.ids.append(review_id)
        chunk.texts.append(review)
        size += len(raw)
        if len(chunk.texts) >= CHUNK_LINES or size >= CHUNK_BYTES:
            if ids is not None:
                ids.add(chunk.ids)
            yield chunk
            chunk, size = Chunk([], []), 0
    if chunk.texts:
        if ids is not None:
            ids.add(chunk.ids)
        yield chunk
    if ids is not None:
        counts.duplicate_ids = ids.duplicates()
