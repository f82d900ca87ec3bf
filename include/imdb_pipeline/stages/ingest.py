"""The ingest stage: IMDB reviews in, compact token arrays + the word index out.

Sources (``source``, or inferred from ``data_path``):
- ``keras``: Keras' ``imdb.npz`` (already tokenized), downloaded once into the cache or given as
  ``data_path``, with ``imdb_word_index.json`` beside it (``keras_npz``).
- ``aclimdb``: the raw Large Movie Review Dataset as a folder or a tarball, tokenized here as
  Keras' file was made (``aclimdb``).

Writes ``train.npz`` and ``test.npz`` (``tokenized.TokenizedSplit``) and ``word_index.json``; the
manifest's summary states the data path as given and the path read (symlinks followed), the review
counts per split and class, duplicates and train/test overlap, so a short or lopsided dataset is
visible. Every reader works within ``input_limits``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from pathlib import Path

import numpy as np

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.core.files import file_kind
from imdb_pipeline.core.parameters import DATA_PATH_ENV, PipelineConfig
from imdb_pipeline.data.aclimdb import read_aclimdb
from imdb_pipeline.data.aclimdb_layout import LABELS
from imdb_pipeline.data.input_limits import LIMITS, InputLimits
from imdb_pipeline.data.keras_npz import keras_word_index, read_keras_npz
from imdb_pipeline.features.tokenized import TokenizedSplit, save_split
from imdb_pipeline.store import artifacts, downloads
from imdb_pipeline.store.model_store import MODEL_FILES

log = logging.getLogger(__name__)

# Keras' own imdb.npz holds ragged object arrays (pickled); it is loaded with pickle only after
# its sha256 matches the one Keras publishes. Any other pickled file is refused.
TRUSTED_PICKLED_NPZ_SHA256 = {downloads.KERAS_IMDB_NPZ[1]}
# Where the data path came from (the summary's ``data_path_from``).
FROM_PARAM, FROM_ENV, FROM_DOWNLOAD = "data_path", DATA_PATH_ENV, "download"
_KINDS = "an imdb.npz, an aclImdb folder or an aclImdb tarball (.tar, .tar.gz, .tar.bz2, .tar.xz)"


def _local_path(given: str, origin: str) -> Path:
    """The local data path, checked: it exists and is a folder or a non-empty regular file."""
    path = Path(given).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise PipelineInputError(
            f"{origin} {given!r} does not exist on this worker: give the path of {_KINDS}, "
            "or leave it empty to download."
        ) from None
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise PipelineInputError(
            f"{origin} {given!r} is a {file_kind(mode)}, not a regular file or folder: "
            f"give the path of {_KINDS}."
        )
    if stat.S_ISREG(mode) and path.stat().st_size == 0:
        raise PipelineInputError(f"{origin} {given!r} is an empty file: download it again.")
    return path.resolve()


def data_path_as_given(config: PipelineConfig) -> tuple[str, str]:
    """(path as typed, where from): ``data_path``; else the worker's ``IMDB_DATA_PATH``; else ("",
    "download"). The reports show it, with the path read (symlinks followed) beside it."""
    if config.data_path:
        return config.data_path, FROM_PARAM
    given = os.environ.get(DATA_PATH_ENV, "")
    return given, (FROM_ENV if given else FROM_DOWNLOAD)


def locate_data(config: PipelineConfig, cache: Path, limits: InputLimits) -> tuple[str, Path]:
    """(source, local path): the configured local copy, checked, or the verified cached download.
    A path from the worker's environment is named as such in every message."""
    origin = "data_path" if config.data_path else f"{DATA_PATH_ENV} (this worker's environment)"
    given = data_path_as_given(config)[0]
    path = _local_path(given, origin) if given else None
    try:
        source, _ = config.data_location()
    except PipelineInputError:
        if config.data_path or not given:
            raise
        raise PipelineInputError(
            f"{origin} {given!r} is not {_KINDS}: fix {DATA_PATH_ENV} on the worker, or give "
            "data_path (and source) when triggering."
        ) from None
    if path is not None:
        return source, path
    if source == "keras":
        name, checksum = downloads.KERAS_IMDB_NPZ
        return source, downloads.cached_download(
            downloads.KERAS_ORIGIN + name, cache / name, checksum, limits.data_bytes
        )
    url, checksum = downloads.aclimdb_download()
    return source, downloads.cached_download(url, cache / "aclImdb_v1.tar.gz", checksum, limits.data_bytes)


def _read(
    source: str, path: Path, cache: Path, limits: InputLimits
) -> tuple[dict[str, TokenizedSplit], dict[str, int], dict]:
    if source == "keras":
        splits = read_keras_npz(path, TRUSTED_PICKLED_NPZ_SHA256, limits)
        return splits, keras_word_index(path, cache, limits), {"undecodable_reviews": 0}
    return read_aclimdb(path, limits)


def _review_digests(split: TokenizedSplit) -> list[bytes]:
    tokens, offsets = split.tokens, split.offsets
    return [
        hashlib.blake2b(tokens[offsets[i] : offsets[i + 1]].tobytes(), digest_size=16).digest()
        for i in range(len(split))
    ]


def dataset_summary(splits: dict[str, TokenizedSplit]) -> dict:
    """Counts per split and class; duplicates (a review whose token sequence, what the model sees,
    equals an earlier one's in its split) and test reviews whose sequence is also in training."""
    digests = {name: _review_digests(split) for name, split in splits.items()}
    in_train = set(digests["train"])
    by_class = {
        name: dict(zip(LABELS, np.bincount(split.labels, minlength=len(LABELS)).tolist(), strict=True))
        for name, split in splits.items()
    }
    return {
        "reviews": {name: len(split) for name, split in splits.items()},
        "reviews_by_class": by_class,
        "duplicate_reviews": {name: len(found) - len(set(found)) for name, found in digests.items()},
        "test_reviews_also_in_train": sum(digest in in_train for digest in digests["test"]),
    }


def ingest(inputs: dict[str, str], config: PipelineConfig, out: artifacts.StageOutput) -> dict[str, str]:
    """Read the configured data and write ``train.npz``, ``test.npz`` and ``word_index.json``."""
    limits = InputLimits.from_env()
    cache = artifacts.cache_dir()
    source, path = locate_data(config, cache, limits)
    log.info("ingesting %s data from %s", source, path)
    try:
        splits, word_index, facts = _read(source, path, cache, limits)
    except MemoryError:
        raise PipelineInputError(
            f"{path}: this worker ran out of memory reading the data. Give the worker more memory, or "
            f"lower {LIMITS['data_bytes'].env} so that data this large is refused at once."
        ) from None
    summary = dataset_summary(splits)
    for name, split in splits.items():
        save_split(out.path(f"{name}_tokens", f"{name}.npz"), split)
        log.info("%s: %s reviews, %d tokens", name, summary["reviews_by_class"][name], len(split.tokens))
    if any(summary["duplicate_reviews"].values()) or summary["test_reviews_also_in_train"]:
        log.warning(
            "duplicate reviews %s; %d test reviews also in train",
            summary["duplicate_reviews"],
            summary["test_reviews_also_in_train"],
        )
    artifacts.write_json(out.path("word_index", MODEL_FILES["word_index"]), word_index)
    given, origin = data_path_as_given(config)
    out.extra["summary"] = {
        "source": source,
        "data_path": str(path),  # the path read: symlinks followed (older runs have only this)
        "data_path_as_given": given,
        "data_path_from": origin,
        **summary,
        "vocabulary": len(word_index),
        **facts,
    }
    return out.final_paths()
