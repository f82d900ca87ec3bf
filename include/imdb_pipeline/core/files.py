"""What kind of file a path is, and opening a regular file (never a FIFO, a device or a folder)."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

from imdb_pipeline.core.errors import PipelineInputError

_KINDS = {
    stat.S_IFDIR: "folder",
    stat.S_IFIFO: "FIFO (named pipe)",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
    stat.S_IFSOCK: "socket",
}


def file_kind(mode: int) -> str:
    return "regular file" if stat.S_ISREG(mode) else _KINDS.get(stat.S_IFMT(mode), "special file")


def open_regular_file(path: str | Path) -> io.BufferedReader:
    """Open ``path`` for reading only if it is a regular file. Opened without blocking, so a FIFO
    is refused instead of waiting forever for a writer; checked on the open file, so it cannot be
    swapped for something else after the check."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise PipelineInputError(
                f"{path} is a {file_kind(mode)}, not a regular file: give the path of a data file "
                "(imdb.npz or an aclImdb tarball) or of an aclImdb folder."
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
