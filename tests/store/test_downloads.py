"""Downloads: cached once, verified, never a partial or wrong file in the cache."""

import hashlib

import pytest
from http_fixtures import FlakyFileServer

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.store import downloads

PAYLOAD = b"imdb test payload " * 5000
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
LIMIT = 1 << 20


def no_partials(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".partial")] == []


def test_download_is_verified_and_cached_once(tmp_path):
    with FlakyFileServer(PAYLOAD, "data.bin", []) as server:
        first = downloads.cached_download(server.url, tmp_path / "data.bin", SHA256, LIMIT)
        second = downloads.cached_download(server.url, tmp_path / "data.bin", SHA256, LIMIT)
    assert first == second and first.read_bytes() == PAYLOAD
    assert server.gets() == 1 and no_partials(tmp_path)


@pytest.mark.parametrize(
    ("failure", "message"),
    [("truncated", "truncated download"), ("reset", "could not download"), (500, "could not download")],
)
def test_failed_downloads_leave_nothing_in_the_cache(tmp_path, failure, message):
    with (
        FlakyFileServer(PAYLOAD, "data.bin", [failure]) as server,
        pytest.raises(downloads.DownloadError, match=message),
    ):
        downloads.cached_download(server.url, tmp_path / "data.bin", SHA256, LIMIT)
    assert not (tmp_path / "data.bin").exists() and no_partials(tmp_path)


def test_checksum_mismatch_is_never_cached(tmp_path):
    with (
        FlakyFileServer(PAYLOAD + b"tampered", "data.bin", []) as server,
        pytest.raises(downloads.DownloadError, match="does not match the expected"),
    ):
        downloads.cached_download(server.url, tmp_path / "data.bin", SHA256, LIMIT)
    assert not (tmp_path / "data.bin").exists() and no_partials(tmp_path)


def test_a_corrupted_cached_file_is_downloaded_again(tmp_path):
    (tmp_path / "data.bin").write_bytes(b"bit rot")
    with FlakyFileServer(PAYLOAD, "data.bin", []) as server:
        assert (
            downloads.cached_download(server.url, tmp_path / "data.bin", SHA256, LIMIT).read_bytes()
            == PAYLOAD
        )


def test_md5_checksums_are_accepted_like_keras(tmp_path):
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    with FlakyFileServer(PAYLOAD, "data.bin", []) as server:
        assert (
            downloads.cached_download(server.url, tmp_path / "data.bin", md5, LIMIT).read_bytes() == PAYLOAD
        )


def test_mirror_needs_its_checksum(monkeypatch):
    monkeypatch.setenv("IMDB_ACLIMDB_URL", "http://127.0.0.1:1/aclImdb_v1.tar.gz")
    monkeypatch.delenv("IMDB_ACLIMDB_CHECKSUM", raising=False)
    with pytest.raises(downloads.DownloadError, match="IMDB_ACLIMDB_CHECKSUM"):
        downloads.aclimdb_download()
    monkeypatch.setenv("IMDB_ACLIMDB_CHECKSUM", SHA256)
    assert downloads.aclimdb_download() == ("http://127.0.0.1:1/aclImdb_v1.tar.gz", SHA256)


def test_a_download_over_the_data_limit_is_stopped_and_not_kept(tmp_path):
    with (
        FlakyFileServer(PAYLOAD, "data.bin", []) as server,
        pytest.raises(
            PipelineInputError, match=r"sends more than 50,000 bytes, the data limit \(IMDB_MAX_DATA_BYTES\)"
        ),
    ):
        downloads.cached_download(server.url, tmp_path / "data.bin", SHA256, 50_000)
    assert not (tmp_path / "data.bin").exists() and no_partials(tmp_path)
