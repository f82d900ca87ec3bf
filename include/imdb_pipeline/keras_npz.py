"""Reading Keras' ``imdb.npz`` (already tokenized) and the ``imdb_word_index.json`` beside it."""

from __future__ import annotations

import zipfile
from collections.abc import Collection
from pathlib import Path

import numpy as np

from imdb_pipeline import artifacts, download, text
from imdb_pipeline.aclimdb_layout import SPLITS
from imdb_pipeline.errors import PipelineInputError
from imdb_pipeline.tokenized import TokenizedSplit

KEYS = ("x_train", "y_train", "x_test", "y_test")


def read_keras_npz(path: Path, trusted_pickled_sha256: Collection[str]) -> dict[str, TokenizedSplit]:
    """Keras' file: x_* are ragged sequences of word ranks, y_* the labels. Keras' own file holds
    pickled object arrays: those are unpickled only when the file's sha256 is a trusted one."""
    if not zipfile.is_zipfile(path):
        raise PipelineInputError(
            f"{path} is not an .npz (zip) file: it is corrupt or something else. Download imdb.npz again."
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            missing = set(KEYS) - keys
            if missing:
                raise PipelineInputError(
                    f"{path} lacks {', '.join(sorted(missing))}: it is not Keras' imdb.npz "
                    f"(it has {', '.join(sorted(keys)) or 'no arrays'}). "
                    "Use Keras' imdb.npz or source=aclimdb."
                )
            arrays = {key: data[key] for key in KEYS}
    except PipelineInputError:
        raise
    except ValueError as err:
        if "allow_pickle" not in str(err):
            raise PipelineInputError(f"{path} is not a readable .npz file ({err}).") from None
        arrays = _load_trusted_pickled_npz(path, trusted_pickled_sha256)
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise PipelineInputError(
            f"{path} is not a readable .npz file ({err}). Download imdb.npz again."
        ) from None
    return {split: _flatten(path, arrays[f"x_{split}"], arrays[f"y_{split}"], split) for split in SPLITS}


def _load_trusted_pickled_npz(path: Path, trusted_sha256: Collection[str]) -> dict[str, np.ndarray]:
    digest = artifacts.sha256_file(path)
    if digest not in trusted_sha256:
        raise PipelineInputError(
            f"{path} holds pickled object arrays and is not Keras' published imdb.npz (sha256 {digest}): "
            "refusing to unpickle it. Use Keras' own imdb.npz or source=aclimdb."
        )
    with np.load(path, allow_pickle=True) as data:  # checksum-verified Keras file only
        return {key: data[key] for key in KEYS}


def _flatten(path: Path, sequences: np.ndarray, labels: np.ndarray, split: str) -> TokenizedSplit:
    if len(sequences) == 0:
        raise PipelineInputError(f"{path}: the {split} split is empty. Use Keras' imdb.npz.")
    if len(sequences) != len(labels):
        raise PipelineInputError(f"{path}: {len(sequences)} {split} reviews but {len(labels)} labels.")
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    ranks = np.concatenate([np.asarray(seq, dtype=np.int64) for seq in sequences])
    tokens, offsets = text.with_start_tokens(ranks + text.INDEX_FROM, lengths)
    label_array = np.asarray(labels).astype(np.uint8)
    if not set(np.unique(label_array)) == {0, 1}:
        raise PipelineInputError(f"{path}: the {split} labels must contain both 0 and 1.")
    return TokenizedSplit(tokens, offsets, label_array)


def keras_word_index(npz_path: Path, cache: Path) -> dict[str, int]:
    """Keras' word index beside the .npz; fetched (verified) when the .npz is the cached download."""
    beside = npz_path.with_name(download.KERAS_WORD_INDEX[0])
    if beside.is_file():
        return artifacts.read_json(beside)
    if npz_path.parent == cache:
        fetched = download.cached_download(
            download.KERAS_ORIGIN + download.KERAS_WORD_INDEX[0], beside, download.KERAS_WORD_INDEX[1]
        )
        return artifacts.read_json(fetched)
    raise PipelineInputError(
        f"{beside} is missing: put Keras' imdb_word_index.json beside {npz_path.name} "
        f"(from {download.KERAS_ORIGIN}{download.KERAS_WORD_INDEX[0]}); prediction needs it."
    )
