"""Reading the labeled reviews of an aclImdb tarball (.tar, .tar.gz, .tar.bz2, .tar.xz), streamed.

Nothing is extracted to disk and nothing is decompressed whole: the decompressed stream is read a
block at a time and counted against the data limit, so a small archive that expands to gigabytes
fails at the limit with constant memory. An archive must end with the tar end-of-archive block
and a complete compressed stream: one cut short fails instead of giving fewer reviews.
"""

from __future__ import annotations

import bz2
import collections
import gzip
import io
import lzma
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.core.files import open_regular_file
from imdb_pipeline.data.aclimdb_layout import Review, split_and_label
from imdb_pipeline.data.input_limits import InputLimits

_BLOCK = 1 << 16
_ADVICE = "Download aclImdb_v1.tar.gz again or point data_path at an extracted aclImdb folder."


class _MeteredStream:
    """The decompressed bytes, a bounded block per read, refused past the data limit."""

    def __init__(self, stream: BinaryIO, source: Path, limits: InputLimits):
        self._stream, self._source, self._limits = stream, source, limits
        self.total = 0
        self._recent: collections.deque[bytes] = collections.deque(maxlen=4)  # covers tarfile's buffer

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(_BLOCK if size is None or size < 0 else min(size, _BLOCK))
        self.total += len(data)
        self._limits.check(self._source, "data_bytes", self.total, "the uncompressed archive")
        if data:
            self._recent.append(data)
        return data

    def data_after(self, offset: int) -> bool:
        """Whether anything but zeros follows ``offset`` (read to the end, so a damaged compressed
        stream fails too). After the end-of-archive block a tar holds only zero padding."""
        held = b"".join(self._recent)
        rest = held[max(0, offset - (self.total - len(held))) :]
        while rest:
            if rest.count(0) != len(rest):
                return True
            rest = self.read(_BLOCK)
        return False


class _EndMarkingTarInfo(tarfile.TarInfo):
    """Notes on the archive where it met an all-zero block (the end-of-archive marker, or a
    zeroed header): ``tarfile`` stops just as quietly there as at a cut-off or garbled header."""

    @classmethod
    def fromtarfile(cls, archive: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(archive)
        except tarfile.EOFHeaderError:
            archive.end_block_at = archive.fileobj.tell() - tarfile.BLOCKSIZE
            raise


def _decompressed(raw: io.BufferedReader) -> BinaryIO:
    """The archive's tar stream, decompressed on demand by the standard library's reader of its
    compression (told by its magic bytes)."""
    head = raw.peek(6)[:6]
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if head.startswith(b"BZh"):
        return bz2.BZ2File(raw)
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw)
    return raw


def _check_member(archive: Path, member: tarfile.TarInfo) -> None:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise PipelineInputError(
            f"{archive} has an unsafe member {member.name!r} (absolute or '..' path): refusing the archive. "
            "Use the official aclImdb_v1.tar.gz."
        )
    if member.issym() or member.islnk():
        raise PipelineInputError(
            f"{archive} has a link member {member.name!r}: refusing the archive. "
            "Use the official aclImdb_v1.tar.gz."
        )
    if not (member.isfile() or member.isdir()):
        raise PipelineInputError(
            f"{archive} has a member {member.name!r} that is neither a regular file nor a folder "
            "(a device, FIFO or other special file): refusing the archive. "
            "Use the official aclImdb_v1.tar.gz."
        )


def iter_tarball(path: Path, limits: InputLimits) -> Iterator[Review]:
    """The tarball's labeled reviews, in archive order; limits checked before each read."""
    try:
        with open_regular_file(path) as raw, _decompressed(raw) as stream:
            metered = _MeteredStream(stream, path, limits)
            with tarfile.open(fileobj=metered, mode="r|", tarinfo=_EndMarkingTarInfo) as archive:
                for count, member in enumerate(archive, start=1):
                    limits.check(path, "members", count, "the number of archive members")
                    _check_member(path, member)
                    found = split_and_label(member.name) if member.isfile() else None
                    if found:
                        limits.check(path, "review_bytes", member.size, f"review {member.name}")
                        yield Review(*found, member.name, archive.extractfile(member).read())
                end_block_at = getattr(archive, "end_block_at", None)
                if end_block_at is None:
                    raise _ends_early(
                        path,
                        f"the tar stream stops after {len(archive.members)} members, without its end block",
                    )
            if metered.data_after(end_block_at):
                raise _ends_early(
                    path,
                    f"a zero block at byte {end_block_at:,}, after {len(archive.members)} members, ends "
                    "the tar stream, but data follows it",
                )
    except EOFError as err:
        raise _ends_early(path, f"the compressed stream stops before its end ({err})") from None
    except tarfile.ReadError as err:
        if "unexpected end of data" in str(err):
            raise _ends_early(path, "a member's data stops before its end") from None
        raise _unreadable(path, err) from None
    except (tarfile.TarError, OSError, zlib.error, lzma.LZMAError) as err:
        raise _unreadable(path, err) from None


def _ends_early(path: Path, detail: str) -> PipelineInputError:
    return PipelineInputError(
        f"{path} ends early, truncated or damaged: {detail}. A dataset cut short is refused, not read as "
        f"a smaller one. {_ADVICE}"
    )


def _unreadable(path: Path, err: Exception) -> PipelineInputError:
    return PipelineInputError(
        f"{path} is not a readable tar archive (.tar, .tar.gz, .tar.bz2 or .tar.xz) "
        f"({err.__class__.__name__}: {err}): it is corrupt or not an archive. {_ADVICE}"
    )
