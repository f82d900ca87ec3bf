"""The reviews inbox: which files wait there, and reading one a chunk at a time.

Producers drop ``.txt`` files (one review per line; a review's id is its line number) or ``.jsonl``
files (one JSON object per line with ``id`` and ``text``) into ``IMDB_INBOX`` (default
``<artifact root>/inbox``). A file is read as one new name: write it under a hidden name (leading
``.``) or elsewhere on the same file system, then rename it in. Reading streams: memory follows
one chunk, never the file. A file that cannot be a batch of reviews (unreadable, binary, wrong
columns, a line over the review limit, no text at all) raises ``QuarantineError`` with the reason.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from imdb_pipeline import artifacts
from imdb_pipeline.errors import PipelineInputError
from imdb_pipeline.input_limits import InputLimits, open_regular_file

INBOX_ENV = "IMDB_INBOX"
SUFFIXES = (".txt", ".jsonl")
CHUNK_LINES = 2000
CHUNK_BYTES = 4 << 20
# Text is text: a NUL byte, or more than this share of bytes that are not UTF-8, means a binary file.
MAX_UNDECODABLE_SHARE = 0.01
_ERRORS = "imdb_inbox_count"


class QuarantineError(PipelineInputError):
    """This file cannot be scored: it is set aside with the reason, the other files go on."""


def inbox_dir(root: Path | None = None) -> Path:
    """``IMDB_INBOX``, else ``<artifact root>/inbox``."""
    configured = os.environ.get(INBOX_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    return (root or artifacts.artifact_root()) / "inbox"


def waiting_files(folder: Path) -> list[Path]:
    """The inbox's review files, oldest first (by modification time, then name); hidden names
    (files still being written) and other suffixes are not batches."""
    if not folder.is_dir():
        return []
    files = [
        path
        for path in folder.iterdir()
        if path.suffix in SUFFIXES and not path.name.startswith(".") and path.is_file()
    ]
    return sorted(files, key=lambda path: (path.stat().st_mtime, path.name))


@dataclasses.dataclass
class ReadCounts:
    """What reading a file saw, besides the reviews it yielded."""

    lines: int = 0
    blank_rows: int = 0
    undecodable_rows: int = 0
    undecodable_bytes: int = 0
    bytes_read: int = 0


@dataclasses.dataclass
class Chunk:
    ids: list[Any]
    texts: list[str]


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


def _jsonl_row(line: str, number: int, name: str) -> tuple[Any, str]:
    try:
        record = json.loads(line)
    except ValueError:
        raise QuarantineError(
            f"line {number} of {name} is not JSON: a .jsonl file holds one object a line."
        ) from None
    if not isinstance(record, dict) or "id" not in record or "text" not in record:
        got = sorted(record) if isinstance(record, dict) else type(record).__name__
        raise QuarantineError(
            f"line {number} of {name} has the wrong columns ({got}): each line needs 'id' and 'text'."
        )
    review_id, review = record["id"], record["text"]
    if isinstance(review_id, bool) or not isinstance(review_id, str | int) or not isinstance(review, str):
        raise QuarantineError(
            f"line {number} of {name}: 'id' must be a string or a whole number and 'text' a string."
        )
    return review_id, review


def read_chunks(path: Path, counts: ReadCounts, limits: InputLimits | None = None) -> Iterator[Chunk]:
    """The file's non-blank reviews with their ids, a chunk at a time; ``counts`` is filled as it goes."""
    limits = limits or InputLimits.from_env()
    try:
        handle = open_regular_file(path)
    except OSError as err:
        raise QuarantineError(f"{path.name} cannot be read ({err.strerror}).") from None
    except PipelineInputError as err:
        raise QuarantineError(str(err)) from None
    with handle:
        yield from _chunks(handle, path, counts, limits)
    if counts.undecodable_bytes > MAX_UNDECODABLE_SHARE * max(counts.bytes_read, 1):
        raise QuarantineError(
            f"{path.name}: {counts.undecodable_bytes:,} of its {counts.bytes_read:,} bytes are not UTF-8 "
            "text: give UTF-8 text (e.g. `iconv -f latin1 -t utf-8`)."
        )


def _chunks(handle: BinaryIO, path: Path, counts: ReadCounts, limits: InputLimits) -> Iterator[Chunk]:
    jsonl = path.suffix == ".jsonl"
    chunk, size = Chunk([], []), 0
    while raw := handle.readline(limits.review_bytes + 1):
        counts.lines += 1
        counts.bytes_read += len(raw)
        raw = raw.rstrip(b"\r\n")
        if len(raw) > limits.review_bytes:
            raise QuarantineError(
                f"line {counts.lines} of {path.name} is longer than {limits.review_bytes:,} bytes "
                "(IMDB_MAX_REVIEW_BYTES): one review per line."
            )
        if b"\x00" in raw:
            raise QuarantineError(
                f"{path.name} holds NUL bytes (line {counts.lines}): it is not a text file."
            )
        if counts.lines == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        line = _decode(raw, counts)
        if not line.strip():
            counts.blank_rows += 1
            continue
        review_id, review = _jsonl_row(line, counts.lines, path.name) if jsonl else (counts.lines, line)
        if not review.strip():
            counts.blank_rows += 1
            continue
        chunk.ids.append(review_id)
        chunk.texts.append(review)
        size += len(raw)
        if len(chunk.texts) >= CHUNK_LINES or size >= CHUNK_BYTES:
            yield chunk
            chunk, size = Chunk([], []), 0
    if chunk.texts:
        yield chunk
