"""Reading Keras' ``imdb.npz`` (already tokenized) and the ``imdb_word_index.json`` beside it.

Every array's header (shape, dtype, size) is checked against the file and the limits before any
array is allocated, and the values (labels 0/1, word ranks in range) before they are used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import zipfile
import zlib
from collections.abc import Collection
from pathlib import Path
from typing import BinaryIO

import numpy as np

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.core.files import open_regular_file
from imdb_pipeline.data.aclimdb_layout import SPLITS
from imdb_pipeline.data.input_limits import InputLimits
from imdb_pipeline.features import tokenizer
from imdb_pipeline.features.tokenized import TokenizedSplit
from imdb_pipeline.store import downloads

KEYS = ("x_train", "y_train", "x_test", "y_test")
MAX_RANK = int(np.iinfo(np.int32).max) - tokenizer.INDEX_FROM  # token ids are int32
_ADVICE = "Use Keras' imdb.npz or source=aclimdb."


@dataclasses.dataclass(frozen=True)
class _Header:
    shape: tuple[int, ...]
    dtype: np.dtype


def read_keras_npz(
    path: Path, trusted_pickled_sha256: Collection[str], limits: InputLimits
) -> dict[str, TokenizedSplit]:
    """Keras' file: x_* are sequences of word ranks (ragged object arrays, or 2-D reviews ×
    positions), y_* the 0/1 labels. Pickled object arrays are read only from a file whose sha256
    is a trusted one (Keras' own file)."""
    try:
        with open_regular_file(path) as handle:
            if not zipfile.is_zipfile(handle):
                raise PipelineInputError(
                    f"{path} is not an .npz (zip) file: it is corrupt or something else. "
                    "Download imdb.npz again."
                )
            with zipfile.ZipFile(handle) as archive:
                headers = _headers(path, archive, limits)
                pickled = any(header.dtype.hasobject for header in headers.values())
                if pickled:
                    _check_trusted(path, handle, trusted_pickled_sha256)
                for split in SPLITS:
                    _check_split(path, split, headers, limits)
                arrays = {key: _load(archive, key, pickled) for key in KEYS}
    except PipelineInputError:
        raise
    except (OSError, EOFError, ValueError, RuntimeError, zipfile.BadZipFile, zlib.error) as err:
        # RuntimeError: zipfile's unsupported version or compression, or an encrypted member.
        raise PipelineInputError(
            f"{path} is not a readable .npz file ({err.__class__.__name__}: {err}). Download imdb.npz again."
        ) from None
    return {split: _flatten(path, split, arrays[f"x_{split}"], arrays[f"y_{split}"]) for split in SPLITS}


def _headers(path: Path, archive: zipfile.ZipFile, limits: InputLimits) -> dict[str, _Header]:
    names = {name.removesuffix(".npy") for name in archive.namelist() if name.endswith(".npy")}
    missing = set(KEYS) - names
    if missing:
        raise PipelineInputError(
            f"{path} lacks {', '.join(sorted(missing))}: it is not Keras' imdb.npz "
            f"(it has {', '.join(sorted(names)) or 'no arrays'}). {_ADVICE}"
        )
    headers, total = {}, 0
    for key in KEYS:
        info = archive.getinfo(f"{key}.npy")
        total += info.file_size
        limits.check(path, "data_bytes", total, "the arrays' total size")
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version not in ((1, 0), (2, 0)):
                raise PipelineInputError(
                    f"{path}: {key} is in .npy format {version}, not 1.0 or 2.0. {_ADVICE}"
                )
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(member)
            held = info.file_size - member.tell()
        claimed = math.prod(shape) * dtype.itemsize
        if not dtype.hasobject and claimed > held:
            raise PipelineInputError(
                f"{path}: the header of {key} claims {shape} {dtype} ({claimed:,} bytes) but the file holds "
                f"{held:,} bytes: it is corrupt. Download imdb.npz again."
            )
        headers[key] = _Header(tuple(shape), dtype)
    return headers


def _check_trusted(path: Path, handle: BinaryIO, trusted_sha256: Collection[str]) -> None:
    handle.seek(0)
    digest = hashlib.file_digest(handle, "sha256").hexdigest()
    if digest not in trusted_sha256:
        raise PipelineInputError(
            f"{path} holds pickled object arrays and is not Keras' published imdb.npz (sha256 {digest}): "
            f"refusing to unpickle it. {_ADVICE}"
        )


def _check_split(path: Path, split: str, headers: dict[str, _Header], limits: InputLimits) -> None:
    x, y = headers[f"x_{split}"], headers[f"y_{split}"]
    if not x.dtype.hasobject and x.dtype.kind not in "iu":
        raise PipelineInputError(
            f"{path}: x_{split} holds {x.dtype} values, not integer word ranks. {_ADVICE}"
        )
    if len(x.shape) != (1 if x.dtype.hasobject else 2):
        raise PipelineInputError(
            f"{path}: x_{split} is {len(x.shape)}-D {x.shape}: expected one sequence of word ranks per "
            f"review (a 1-D array of sequences, or 2-D reviews × positions). {_ADVICE}"
        )
    if y.dtype.kind not in "iub" or len(y.shape) != 1:
        raise PipelineInputError(
            f"{path}: y_{split} is {len(y.shape)}-D {y.dtype}: expected one integer label (0 or 1) "
            f"per review. {_ADVICE}"
        )
    if x.shape[0] != y.shape[0]:
        raise PipelineInputError(f"{path}: {x.shape[0]} {split} reviews but {y.shape[0]} labels.")
    if x.shape[0] == 0:
        raise PipelineInputError(f"{path}: the {split} split is empty. {_ADVICE}")
    limits.check(path, "members", x.shape[0], f"the number of {split} reviews")
    if not x.dtype.hasobject:
        limits.check(path, "data_bytes", 4 * (x.shape[0] + math.prod(x.shape)), f"the {split} token array")


def _load(archive: zipfile.ZipFile, key: str, pickled: bool) -> np.ndarray:
    with archive.open(f"{key}.npy") as member:
        return np.lib.format.read_array(member, allow_pickle=pickled)  # pickled: trusted file only


def _flatten(path: Path, split: str, sequences: np.ndarray, labels: np.ndarray) -> TokenizedSplit:
    outside = ~np.isin(labels, (0, 1))
    if outside.any():
        found = np.unique(labels[outside])[:5].tolist()
        raise PipelineInputError(f"{path}: y_{split} holds labels other than 0 and 1 ({found}). {_ADVICE}")
    if not (labels == 0).any() or not (labels == 1).any():
        raise PipelineInputError(f"{path}: the {split} labels must contain both 0 and 1.")
    if sequences.dtype.hasobject:
        lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
        ranks = np.concatenate([np.asarray(seq, dtype=np.int64) for seq in sequences])
    else:
        lengths = np.full(len(sequences), sequences.shape[1], dtype=np.int64)
        ranks = sequences.reshape(-1)
    if ranks.size and ranks.min() < 0:
        raise PipelineInputError(
            f"{path}: x_{split} holds negative word ranks ({int(ranks.min())}). {_ADVICE}"
        )
    if ranks.size and ranks.max() > MAX_RANK:
        raise PipelineInputError(
            f"{path}: x_{split} holds word ranks up to {int(ranks.max())}, past {MAX_RANK:,} "
            f"(token ids are 32-bit). {_ADVICE}"
        )
    tokens, offsets = tokenizer.with_start_tokens(ranks.astype(np.int32) + tokenizer.INDEX_FROM, lengths)
    return TokenizedSplit(tokens, offsets, labels.astype(np.uint8))


def _read_word_index(path: Path, limits: InputLimits) -> dict[str, int]:
    with open_regular_file(path) as handle:
        raw = handle.read(limits.data_bytes + 1)
    limits.check(path, "data_bytes", len(raw), "the word index")
    try:
        word_index = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PipelineInputError(
            f"{path} is not valid JSON ({err}). Download imdb_word_index.json again."
        ) from None
    if not isinstance(word_index, dict) or not all(
        type(rank) is int and 0 < rank <= MAX_RANK for rank in word_index.values()
    ):
        raise PipelineInputError(
            f"{path} is not a word index (a JSON object of words to ranks 1, 2, ...). "
            "Download imdb_word_index.json again."
        )
    return word_index


def keras_word_index(npz_path: Path, cache: Path, limits: InputLimits) -> dict[str, int]:
    """Keras' word index beside the .npz; fetched (verified) when the .npz is the cached download."""
    beside = npz_path.with_name(downloads.KERAS_WORD_INDEX[0])
    if beside.is_file():
        return _read_word_index(beside, limits)
    if npz_path.parent == cache:
        fetched = downloads.cached_download(
            downloads.KERAS_ORIGIN + downloads.KERAS_WORD_INDEX[0],
            beside,
            downloads.KERAS_WORD_INDEX[1],
            limits.data_bytes,
        )
        return _read_word_index(fetched, limits)
    raise PipelineInputError(
        f"{beside} is missing: put Keras' imdb_word_index.json beside {npz_path.name} "
        f"(from {downloads.KERAS_ORIGIN}{downloads.KERAS_WORD_INDEX[0]}); prediction needs it."
    )
