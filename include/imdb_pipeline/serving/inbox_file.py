"""One inbox file, opened once (no-follow, non-blocking) and hashed and read through that descriptor.

The batch key names exactly the bytes scored: the file is read up to the size it had when opened,
hashed as it is read, and a file that changed meanwhile (appended to, truncated, rewritten) is
noticed at the end (``inbox.BatchChanged``); a file renamed over after it was opened is read as it
was. A file that cannot be a batch of reviews (binary, wrong columns, a line over the review limit)
raises ``inbox.QuarantineError`` with the reason. Memory follows one chunk, never the file.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.core.files import file_kind
from imdb_pipeline.data.input_limits import InputLimits
from imdb_pipeline.serving import inbox_rows
from imdb_pipeline.serving.inbox import LINK, BatchChanged, QuarantineError
from imdb_pipeline.store.artifacts import printable

# Text is text: a NUL byte, or more than this share of bytes that are not UTF-8, means a binary file.
MAX_UNDECODABLE_SHARE = 0.01
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    """What a file was when it was hashed: its identity and the sha256 of its first ``size`` bytes."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    sha256: str


class BatchFile:
    """An inbox file opened once, never through a link and never blocking on a FIFO: hashed and read
    through this descriptor. ``planned`` is the fingerprint taken when the run listed it; when the
    file is still that file, its hash is not computed again."""

    def __init__(self, path: Path, planned: Fingerprint | None = None):
        self.path, self.name = path, printable(path.name)
        self.fd = _open_no_follow(path, self.name)
        try:
            info = os.fstat(self.fd)
            if not stat.S_ISREG(info.st_mode):
                raise QuarantineError(f"{self.name} is a {file_kind(info.st_mode)}, not a regular file.")
            identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
            if planned is not None and identity == dataclasses.astuple(planned)[:4]:
                self.fingerprint = planned
            else:
                digest = hashlib.sha256()
                for block in self._blocks(info.st_size):
                    digest.update(block)
                self.fingerprint = Fingerprint(*identity, digest.hexdigest())
        except BaseException:
            os.close(self.fd)
            raise

    def __enter__(self) -> BatchFile:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def _blocks(self, size: int, block: int = 1 << 20) -> Iterator[bytes]:
        offset = 0
        while offset < size:
            try:
                data = os.pread(self.fd, min(block, size - offset), offset)
            except OSError as err:
                raise QuarantineError(f"{self.name} cannot be read ({err.strerror}).") from None
            if not data:
                return  # truncated meanwhile: the hash will not match
            offset += len(data)
            yield data

    def chunks(
        self, counts: inbox_rows.ReadCounts, limits: InputLimits | None = None
    ) -> Iterator[inbox_rows.Chunk]:
        """The file's non-blank reviews with their ids, a chunk at a time; ``counts`` is filled as it
        goes. Ends with ``BatchChanged`` if the bytes read are not the fingerprint's."""
        limits = limits or InputLimits.from_env()
        reader = _HashingReader(self._blocks(self.fingerprint.size))
        stream = io.BufferedReader(reader, 1 << 20)
        try:
            yield from inbox_rows.chunks(stream, self.name, counts, limits, self.path.suffix == ".jsonl")
        except QuarantineError:
            raise
        except PipelineInputError as err:  # a line over the limit, NUL bytes
            raise QuarantineError(str(err)) from None
        counts.bytes_read = reader.size
        if reader.digest.hexdigest() != self.fingerprint.sha256 or os.fstat(self.fd).st_size != reader.size:
            raise BatchChanged(f"{self.name} changed while it was scored: it is left for the next run.")
        if counts.undecodable_bytes > MAX_UNDECODABLE_SHARE * max(counts.bytes_read, 1):
            raise QuarantineError(
                f"{self.name}: {counts.undecodable_bytes:,} of its {counts.bytes_read:,} bytes are not UTF-8 "
                "text: give UTF-8 text (e.g. `iconv -f latin1 -t utf-8`)."
            )


def _open_no_follow(path: Path, name: str) -> int:
    try:
        return os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise QuarantineError(f"{name} is a {LINK}: links are never followed.") from None
        raise QuarantineError(f"{name} cannot be read ({err.strerror}).") from None


class _HashingReader(io.RawIOBase):
    """The blocks of a file as a stream, hashed as they pass."""

    def __init__(self, blocks: Iterator[bytes]):
        self.blocks, self.pending, self.size = blocks, b"", 0
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.pending:
            self.pending = next(self.blocks, b"")
            self.digest.update(self.pending)
            self.size += len(self.pending)
        count = min(len(buffer), len(self.pending))
        buffer[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        return count
