"""The tarball reader: every compression reads the same reviews; limits hold before anything is
read or allocated; a cut-off, bomb-like or special-file archive fails with one clear message."""

import bz2
import gzip
import io
import lzma
import os
import struct
import subprocess
import sys
import tarfile
import textwrap
import zlib

import pytest

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.data.aclimdb_tarball import iter_tarball
from imdb_pipeline.data.input_limits import InputLimits

LIMITS = InputLimits.from_env()
REVIEWS = [
    (f"aclImdb/{split}/{label}/{i}_5.txt", f"{split} {label} review {i}".encode())
    for split in ("train", "test")
    for label in ("pos", "neg")
    for i in range(3)
]


def tar_bytes(members, end_block=True):
    """An uncompressed tar of (name, data) members; without its end block when asked."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        members_end = out.tell()
    return out.getvalue() if end_block else out.getvalue()[:members_end]


def read(path, limits=LIMITS):
    return [(review.path, review.raw) for review in iter_tarball(path, limits)]


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [(".tar", bytes), (".tar.gz", gzip.compress), (".tar.bz2", bz2.compress), (".tar.xz", lzma.compress)],
)
def test_every_compression_gives_the_same_reviews(tmp_path, suffix, compress):
    path = tmp_path / f"aclImdb{suffix}"
    path.write_bytes(compress(tar_bytes(REVIEWS)))
    assert read(path) == REVIEWS


def test_a_tar_cut_at_a_member_boundary_is_refused_not_read_as_fewer_reviews(tmp_path):
    path = tmp_path / "aclImdb.tar"
    path.write_bytes(tar_bytes(REVIEWS, end_block=False))
    with pytest.raises(
        PipelineInputError, match="ends early, truncated or damaged: the tar stream stops after 12 members"
    ):
        read(path)


def test_a_tar_cut_inside_a_member_is_refused(tmp_path):
    path = tmp_path / "aclImdb.tar"
    path.write_bytes(tar_bytes(REVIEWS)[: 512 * 5 + 3])
    with pytest.raises(PipelineInputError, match="ends early, truncated or damaged"):
        read(path)


def test_a_gzip_cut_short_is_refused(tmp_path):
    path = tmp_path / "aclImdb.tar.gz"
    path.write_bytes(gzip.compress(tar_bytes(REVIEWS))[:-12])
    with pytest.raises(
        PipelineInputError,
        match="ends early, truncated or damaged: the compressed stream stops before its end",
    ):
        read(path)


def test_garbage_is_not_an_archive(tmp_path):
    path = tmp_path / "aclImdb.tar.gz"
    path.write_bytes(b"\x1f\x8b but not gzip at all")
    with pytest.raises(PipelineInputError, match="not a readable tar archive"):
        read(path)


def test_a_review_over_the_size_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "aclImdb.tar"
    path.write_bytes(tar_bytes([*REVIEWS, ("aclImdb/train/pos/big_9.txt", b"x" * (2 << 20))]))
    extracted, real_extractfile = [], tarfile.TarFile.extractfile

    def recorded_extractfile(archive, member, *args, **kwargs):
        extracted.append(member.name)
        return real_extractfile(archive, member, *args, **kwargs)

    monkeypatch.setattr(tarfile.TarFile, "extractfile", recorded_extractfile)
    # Its 2 MiB, had they been read, would have broken the 1 MiB data limit first (another message).
    with pytest.raises(
        PipelineInputError,
        match=r"review aclImdb/train/pos/big_9\.txt is over the limit of 1,000 .*IMDB_MAX_REVIEW_BYTES",
    ):
        read(path, InputLimits(data_bytes=1 << 20, review_bytes=1000, members=100))
    assert extracted == [name for name, _ in REVIEWS]  # the reviews before it were read, not it


def test_too_many_members_are_refused(tmp_path):
    path = tmp_path / "aclImdb.tar"
    path.write_bytes(tar_bytes(REVIEWS))
    with pytest.raises(
        PipelineInputError, match=r"number of archive members is over the limit of 5 .*IMDB_MAX_MEMBERS"
    ):
        read(path, InputLimits(data_bytes=1 << 20, review_bytes=1000, members=5))


@pytest.mark.parametrize("kind", [tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE])
def test_special_file_members_are_refused(tmp_path, kind):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        special = tarfile.TarInfo("aclImdb/train/pos/0_9.txt")
        special.type = kind
        archive.addfile(special)
    path = tmp_path / "aclImdb.tar"
    path.write_bytes(out.getvalue())
    with pytest.raises(PipelineInputError, match="neither a regular file nor a folder"):
        read(path)


def test_a_fifo_named_like_a_tarball_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "aclImdb_v1.tar.gz"
    os.mkfifo(fifo)
    with pytest.raises(PipelineInputError, match=r"is a FIFO \(named pipe\), not a regular file"):
        read(fifo)


def gzip_bomb(path, member, size=256 << 20):
    """A valid ~0.3 MB .tar.gz (one gzip stream) whose one member is ``size`` bytes of zeros. After a
    full flush deflate forgets its history, so one compressed block of zeros can be repeated."""
    info = tarfile.TarInfo(member)
    info.size = size
    header = info.tobuf(format=tarfile.USTAR_FORMAT)
    zeros = bytes(16 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = deflate.compress(header) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(header)
    for _ in range(size // len(zeros)):
        crc = zlib.crc32(zeros, crc)
    trailer = struct.pack("<II", crc, (len(header) + size) & 0xFFFFFFFF)
    gzip_header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    path.write_bytes(gzip_header + start + block * (size // len(zeros)) + deflate.flush() + trailer)
    return path


# Under this address-space limit the bomb (256 MiB) cannot be held whole: only a streaming
# reader gets to the size check.
BOMB_RUN = textwrap.dedent(
    """
    import pathlib, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (400 << 20, 400 << 20))
    from imdb_pipeline.stages.runner import run_stage
    run_stage("ingest", {"data_path": sys.argv[1]}, pathlib.Path(sys.argv[2]))
    """
)


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (
            "aclImdb/unsup/0_0.txt",
            "the uncompressed archive is over the limit of 67,108,864 uncompressed bytes",
        ),
        (
            "aclImdb/train/pos/0_9.txt",
            "review aclImdb/train/pos/0_9.txt is over the limit of 1,048,576 bytes",
        ),
    ],
)
def test_a_gzip_bomb_fails_at_the_limit_in_bounded_memory(tmp_path, member, message):
    bomb = gzip_bomb(tmp_path / "aclImdb_v1.tar.gz", member)
    assert bomb.stat().st_size < 1 << 20
    env = {
        **os.environ,
        "IMDB_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
        "IMDB_MAX_DATA_BYTES": str(64 << 20),
        "OPENBLAS_NUM_THREADS": "1",
    }
    result = subprocess.run(
        [sys.executable, "-c", BOMB_RUN, str(bomb), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode != 0
    assert "PipelineInputError" in result.stderr and message in result.stderr, result.stderr[-2000:]
    assert "MemoryError" not in result.stderr
    assert list((tmp_path / "run").iterdir()) == []  # no ingest/ and no partial folder


def test_a_zeroed_header_that_looks_like_the_end_is_refused(tmp_path):
    data = bytearray(tar_bytes(REVIEWS))
    data[512 * 6 : 512 * 7] = bytes(512)  # the 4th member's header (each member: header + one data block)
    path = tmp_path / "aclImdb.tar"
    path.write_bytes(bytes(data))
    with pytest.raises(
        PipelineInputError,
        match="a zero block at byte 3,072, after 3 members, ends the tar stream, but data follows",
    ):
        read(path)


def test_zero_padding_after_the_end_block_is_fine(tmp_path):
    path = tmp_path / "aclImdb.tar"
    path.write_bytes(tar_bytes(REVIEWS) + bytes(100_000))
    assert read(path) == REVIEWS
