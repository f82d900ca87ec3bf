"""Reading the labeled reviews of an aclImdb tarball, without extracting anything to disk."""

from __future__ import annotations

import io
import tarfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from imdb_pipeline.aclimdb_layout import Review, split_and_label
from imdb_pipeline.errors import PipelineInputError

# Archives up to this size are decompressed in memory and their members sliced out (faster than
# streaming many small members through extractfile); larger ones stream.
IN_MEMORY_MAX_BYTES = 48 << 20


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


def _members(path: Path) -> Iterator[tuple[tarfile.TarInfo, Callable[[], bytes]]]:
    if path.stat().st_size <= IN_MEMORY_MAX_BYTES:
        with open(path, "rb") as handle:
            data = handle.read()
        if data[:2] == b"\x1f\x8b":
            data = zlib.decompress(data, wbits=47)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for member in archive:
                yield member, lambda m=member: data[m.offset_data : m.offset_data + m.size]
        return
    with tarfile.open(path, "r|*") as archive:
        for member in archive:
            yield member, lambda m=member: archive.extractfile(m).read()


def iter_tarball(path: Path) -> Iterator[Review]:
    """The tarball's labeled reviews, in archive order."""
    try:
        for member, read in _members(path):
            _check_member(path, member)
            found = split_and_label(member.name) if member.isfile() else None
            if found:
                yield Review(*found, member.name, read())
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise PipelineInputError(
            f"{path} is not a readable .tar.gz ({err.__class__.__name__}: {err}): the file is corrupt or "
            "truncated. Download aclImdb_v1.tar.gz again or point data_path at an extracted aclImdb folder."
        ) from None
