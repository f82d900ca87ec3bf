"""files: only regular files are ever opened; a FIFO, a device or a folder is refused at once."""

import os

import pytest

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.core.files import open_regular_file


def test_regular_files_open(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"review")
    with open_regular_file(tmp_path / "a.txt") as handle:
        assert handle.read() == b"review"


@pytest.mark.parametrize(("path", "kind"), [("/dev/zero", "character device"), (".", "folder")])
def test_special_files_are_refused(path, kind):
    with pytest.raises(PipelineInputError, match=f"is a {kind}, not a regular file"):
        open_regular_file(path)


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(PipelineInputError, match=r"is a FIFO \(named pipe\)"):
        open_regular_file(tmp_path / "pipe")
