"""Cached, verified downloads: fetched once into ``<root>/cache``, checked, then renamed into place.

A download goes to a temporary name and is renamed only after its checksum matches, so the
cache never holds a truncated or wrong file; a file lock makes concurrent runs fetch it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from imdb_pipeline.core.errors import PipelineInputError

log = logging.getLogger(__name__)

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# The checksums Keras itself pins for its files (keras/src/datasets/imdb.py).
KERAS_IMDB_NPZ = ("imdb.npz", "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f")
KERAS_WORD_INDEX = ("imdb_word_index.json", "bfafd718b763782e994055a2d397834f")
ACLIMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
ACLIMDB_MD5 = "7c2ac02c03563afcf9b574c7e56c153a"
# A mirror of the raw dataset (a plain tarball: nothing in it is ever unpickled or executed).
ACLIMDB_URL_ENV, ACLIMDB_CHECKSUM_ENV = "IMDB_ACLIMDB_URL", "IMDB_ACLIMDB_CHECKSUM"
TIMEOUT_SECONDS = 60.0  # per blocking network operation, not for the whole download
ACLIMDB_CACHED = "aclImdb_v1.tar.gz"
# The downloads' file names in the artifact cache: a scheduled run may use them without a network.
CACHED_DATASETS = (KERAS_IMDB_NPZ[0], ACLIMDB_CACHED)


def aclimdb_download() -> tuple[str, str]:
    """(url, checksum) of the raw dataset: the official archive, or the mirror in IMDB_ACLIMDB_URL
    with its md5 or sha256 in IMDB_ACLIMDB_CHECKSUM."""
    url = os.environ.get(ACLIMDB_URL_ENV)
    if not url:
        return ACLIMDB_URL, ACLIMDB_MD5
    checksum = os.environ.get(ACLIMDB_CHECKSUM_ENV, "").strip().lower()
    if len(checksum) not in (32, 64):
        raise DownloadError(
            f"{ACLIMDB_URL_ENV} is set: set {ACLIMDB_CHECKSUM_ENV} to the mirror file's md5 or sha256 too."
        )
    return url, checksum


class DownloadError(RuntimeError):
    """The download failed or did not match its checksum (retrying may help)."""


def file_digest(path: Path, checksum: str) -> str:
    """md5 for a 32-hex checksum, sha256 for a 64-hex one (Keras' convention)."""
    algorithm = hashlib.md5 if len(checksum) == 32 else hashlib.sha256
    digest = algorithm()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def cached_download(url: str, dest: Path, checksum: str, max_bytes: int) -> Path:
    """Return ``dest``, downloading ``url`` into it first unless a verified copy is there; a
    download longer than ``max_bytes`` is stopped there (a wrong URL must not fill the disk)."""
    with _locked(dest):
        if dest.is_file():
            if file_digest(dest, checksum) == checksum:
                return dest
            log.warning("cached %s does not match its checksum; downloading it again", dest)
            dest.unlink()
        log.info("downloading %s -> %s", url, dest)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
                expected = response.headers.get("Content-Length")
                written = 0
                while block := response.read(1 << 20):
                    written += len(block)
                    if written > max_bytes:
                        raise PipelineInputError(  # retrying will not help
                            f"{url} sends more than {max_bytes:,} bytes, the data limit "
                            "(IMDB_MAX_DATA_BYTES): check the URL, or raise IMDB_MAX_DATA_BYTES in the "
                            "worker's environment."
                        )
                    out.write(block)
            if expected is not None and written != int(expected):
                raise DownloadError(f"{url}: got {written} of {expected} bytes (truncated download)")
            actual = file_digest(tmp, checksum)
            if actual != checksum:
                raise DownloadError(f"{url}: checksum {actual} does not match the expected {checksum}")
            os.replace(tmp, dest)
        except (OSError, urllib.error.URLError) as err:
            raise DownloadError(
                f"could not download {url}: {err}. Check the network, or set data_path to a local copy."
            ) from err
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return dest
