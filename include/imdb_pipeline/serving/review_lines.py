"""Reviews one a line: the line reader that ``predict`` and the inbox share.

Both read UTF-8 text a line at a time with the same rules: a leading byte-order mark is dropped, a
line longer than the review limit is refused before it is read whole (memory stays bounded), a NUL
byte means the input is not text, and a blank line is not a review (the callers decode, then skip it).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import BinaryIO

from imdb_pipeline.core.errors import PipelineInputError


def review_lines(
    stream: BinaryIO, name: str, max_review_bytes: int, longer_lines_hint: str
) -> Iterator[bytes]:
    """Each line's bytes without its line end (and the first line's BOM), blank ones too, so that
    line numbers stay countable. ``longer_lines_hint`` says how to allow longer lines."""
    number = 0
    while raw := stream.readline(max_review_bytes + 1):
        number += 1
        line = raw.rstrip(b"\r\n")
        if len(line) > max_review_bytes:
            raise PipelineInputError(
                f"line {number} of {name} is longer than {max_review_bytes:,} bytes: give one review per "
                f"line, or {longer_lines_hint}."
            )
        if b"\x00" in line:
            raise PipelineInputError(f"line {number} of {name} holds NUL bytes: it is not a text file.")
        if number == 1 and line.startswith(codecs.BOM_UTF8):
            line = line[len(codecs.BOM_UTF8) :]
        yield line
