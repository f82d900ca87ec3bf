"""The ingest stage: IMDB reviews in, compact token arrays + the word index out.

Sources (``source``, or inferred from ``data_path``):
- ``keras``: Keras' ``imdb.npz`` (already tokenized), downloaded once into the cache or given as
  ``data_path``, with ``imdb_word_index.json`` beside it (``keras_npz``).
- ``aclimdb``: the raw Large Movie Review Dataset as a folder or a tarball, tokenized here as
  Keras' file was made (``aclimdb``).

Writes ``train.npz`` and ``test.npz`` (``tokenized.TokenizedSplit``) and ``word_index.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from imdb_pipeline import artifacts, download
from imdb_pipeline.aclimdb import iter_reviews, read_aclimdb
from imdb_pipeline.config import PipelineConfig
from imdb_pipeline.errors import PipelineInputError
from imdb_pipeline.keras_npz import keras_word_index, read_keras_npz
from imdb_pipeline.tokenized import TokenizedSplit, load_split, save_split

__all__ = ["TokenizedSplit", "ingest", "iter_reviews", "load_split", "locate_data"]

log = logging.getLogger(__name__)

# Keras' own imdb.npz holds ragged object arrays (pickled); it is loaded with pickle only after
# its sha256 matches the one Keras publishes. Any other pickled file is refused.
TRUSTED_PICKLED_NPZ_SHA256 = {download.KERAS_IMDB_NPZ[1]}


def locate_data(config: PipelineConfig, cache: Path) -> tuple[str, Path]:
    """(source, local path): the configured local copy, checked, or the verified cached download."""
    source, data_path = config.data_location()
    if data_path:
        path = Path(data_path).expanduser()
        if not path.exists():
            raise PipelineInputError(
                f"data_path {data_path!r} does not exist on this worker: give the path of an "
                "imdb.npz, an aclImdb folder or an aclImdb*.tar.gz, or leave it empty to download."
            )
        if path.is_file() and path.stat().st_size == 0:
            raise PipelineInputError(f"data_path {data_path!r} is an empty file: download it again.")
        return source, path.resolve()
    if source == "keras":
        name, checksum = download.KERAS_IMDB_NPZ
        return source, download.cached_download(download.KERAS_ORIGIN + name, cache / name, checksum)
    url, checksum = download.aclimdb_download()
    return source, download.cached_download(url, cache / "aclImdb_v1.tar.gz", checksum)


def _read(source: str, path: Path, cache: Path) -> tuple[dict[str, TokenizedSplit], dict[str, int], dict]:
    if source == "keras":
        splits = read_keras_npz(path, TRUSTED_PICKLED_NPZ_SHA256)
        return splits, keras_word_index(path, cache), {"undecodable_reviews": 0}
    return read_aclimdb(path)


def ingest(inputs: dict[str, str], config: PipelineConfig, out: artifacts.StageOutput) -> dict[str, str]:
    """Read the configured data and write ``train.npz``, ``test.npz`` and ``word_index.json``."""
    cache = artifacts.cache_dir()
    source, path = locate_data(config, cache)
    log.info("ingesting %s data from %s", source, path)
    splits, word_index, facts = _read(source, path, cache)
    for name, split in splits.items():
        save_split(out.path(f"{name}_tokens", f"{name}.npz"), split)
        log.info(
            "%s: %d reviews (%d positive), %d tokens",
            name,
            len(split),
            int(split.labels.sum()),
            len(split.tokens),
        )
    artifacts.write_json(out.path("word_index", "word_index.json"), word_index)
    out.extra["summary"] = {
        "source": source,
        "data_path": str(path),
        "reviews": {name: len(split) for name, split in splits.items()},
        "vocabulary": len(word_index),
        **facts,
    }
    return out.final_paths()
