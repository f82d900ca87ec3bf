"""Ingest: IMDB reviews in, compact token arrays + the word index out.

Sources:
- ``keras``: Keras' ``imdb.npz`` (already tokenized), downloaded once into the cache or given as
  ``data_path``, with ``imdb_word_index.json`` beside it.
- ``aclimdb``: the raw Large Movie Review Dataset as a directory or a ``.tar.gz``
  (``train|test/pos|neg/*.txt``; ``unsup`` is ignored), tokenized here as Keras' file was made.

Each split is stored as flat int32 ``tokens``, int64 ``offsets`` (review i is
``tokens[offsets[i]:offsets[i+1]]``) and uint8 ``labels``: about 4 bytes a word, no pickle.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import re
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Iterator

import numpy as np

from imdb_pipeline import artifacts, download, text
from imdb_pipeline.config import PipelineConfig
from imdb_pipeline.errors import PipelineInputError

log = logging.getLogger(__name__)

SPLITS = ("train", "test")
LABELS = {"neg": 0, "pos": 1}
_REVIEW_PATH = re.compile(r"(?:^|/)(train|test)/(pos|neg)/[^/]+\.txt$")
# Keras' own imdb.npz holds ragged object arrays (pickled); it is loaded with pickle only after
# its sha256 matches the one Keras publishes. Any other pickled file is refused.
TRUSTED_PICKLED_NPZ_SHA256 = {download.KERAS_IMDB_NPZ[1]}


@dataclasses.dataclass
class RawSplit:
    texts: list[str]
    labels: list[int]
    names: list[str]
    undecodable: int = 0


# --- Reading the raw aclImdb dataset ------------------------------------------------------------


def _decode(raw: bytes, split: RawSplit) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        split.undecodable += 1
        return raw.decode("utf-8", errors="replace")


def _add_review(splits: dict[str, RawSplit], name: str, raw: bytes) -> None:
    match = _REVIEW_PATH.search(name)
    if match is None:
        return
    split = splits[match.group(1)]
    split.texts.append(_decode(raw, split))
    split.labels.append(LABELS[match.group(2)])
    split.names.append(name)


def _check_member(archive: Path, member: tarfile.TarInfo) -> None:
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise PipelineInputError(
            f"{archive} has an unsafe member {member.name!r} (absolute or '..' path): refusing the archive. "
            "Use the official aclImdb_v1.tar.gz."
        )
    if member.issym() or member.islnk():
        raise PipelineInputError(
            f"{archive} has a link member {member.name!r}: refusing the archive. Use the official aclImdb_v1.tar.gz."
        )


def read_aclimdb_tarball(path: Path) -> dict[str, RawSplit]:
    """The reviews in the tarball, read in memory; nothing is extracted to disk.

    Decompressing the whole file first (about 110 MB for aclImdb) and slicing members out of it
    is ~25 % faster than streaming 50,000 small members through ``extractfile``.
    """
    splits = {name: RawSplit([], [], []) for name in SPLITS}
    try:
        with open(path, "rb") as handle:
            compressed = handle.read()
        data = zlib.decompress(compressed, wbits=47) if compressed[:2] == b"\x1f\x8b" else compressed
        del compressed
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for member in archive:
                _check_member(path, member)
                if member.isfile() and _REVIEW_PATH.search(member.name):
                    _add_review(splits, member.name, data[member.offset_data : member.offset_data + member.size])
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise PipelineInputError(
            f"{path} is not a readable .tar.gz ({err.__class__.__name__}: {err}): the file is corrupt or "
            "truncated. Download aclImdb_v1.tar.gz again or point data_path at an extracted aclImdb folder."
        ) from None
    return splits


def _dataset_dir(path: Path) -> Path:
    """The folder holding train/ and test/: ``path`` itself or its ``aclImdb`` child."""
    for candidate in (path, path / "aclImdb"):
        if (candidate / "train").is_dir() or (candidate / "test").is_dir():
            return candidate
    raise PipelineInputError(
        f"{path} has no train/ or test/ folder: point data_path at the aclImdb folder "
        "(the one holding train/pos, train/neg, test/pos, test/neg)."
    )


def read_aclimdb_directory(path: Path) -> dict[str, RawSplit]:
    root = _dataset_dir(path)
    splits = {name: RawSplit([], [], []) for name in SPLITS}
    for split in SPLITS:
        for label in LABELS:
            folder = root / split / label
            if not folder.is_dir():
                continue
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if entry.name.endswith(".txt") and entry.is_file(follow_symlinks=False):
                    with open(entry.path, "rb") as handle:
                        _add_review(splits, f"{split}/{label}/{entry.name}", handle.read())
    return splits


def _check_raw_splits(source: Path, splits: dict[str, RawSplit]) -> None:
    for name, split in splits.items():
        if not split.texts:
            raise PipelineInputError(
                f"{source} has no {name} reviews (expected {name}/pos/*.txt and {name}/neg/*.txt): "
                "is this the Large Movie Review Dataset?"
            )
        missing = sorted(label for label, value in LABELS.items() if value not in split.labels)
        if missing:
            raise PipelineInputError(
                f"{source}: the {name} split has no {'/'.join(missing)} reviews, so a classifier cannot "
                f"learn both classes. Check {name}/{missing[0]}/ in the dataset."
            )
        if split.undecodable:
            log.warning(
                "%s: %d %s reviews were not valid UTF-8; decoded with replacement characters",
                source,
                split.undecodable,
                name,
            )


def _sorted_by_name(split: RawSplit) -> RawSplit:
    """A canonical order (by path), so a tarball and a folder of the same data give the same arrays."""
    order = sorted(range(len(split.names)), key=split.names.__getitem__)
    return RawSplit(
        [split.texts[i] for i in order],
        [split.labels[i] for i in order],
        [split.names[i] for i in order],
        split.undecodable,
    )


@dataclasses.dataclass
class TokenizedSplit:
    tokens: np.ndarray  # int32, flat
    offsets: np.ndarray  # int64, len n + 1
    labels: np.ndarray  # uint8

    def __len__(self) -> int:
        return len(self.labels)


# Below this many test reviews a second process costs more than it saves.
PARALLEL_MIN_REVIEWS = 2000


def _encode_test_split(texts: list[str], connection) -> None:
    """Child process: split the test texts into words while the parent ranks the training words."""
    words = text.split_words(texts)
    del texts
    word_rank = connection.recv()
    connection.send(text.encode(words, word_rank))
    connection.close()


def _encode_both(train_texts: list[str], test_texts: list[str]) -> tuple[dict, dict[bytes, int]]:
    """Rank words on train and encode both splits, the test split in a second process (2 cores)."""
    import multiprocessing

    if len(test_texts) < PARALLEL_MIN_REVIEWS:
        train_words = text.split_words(train_texts)
        word_rank = text.rank_words(train_words)
        return {"train": text.encode(train_words, word_rank), "test": text.encode_texts(test_texts, word_rank)}, word_rank
    context = multiprocessing.get_context("spawn")  # no fork: the task process may have threads
    parent_end, child_end = context.Pipe()
    child = context.Process(target=_encode_test_split, args=(test_texts, child_end), name="imdb-tokenize-test", daemon=True)
    child.start()
    child_end.close()
    try:
        train_words = text.split_words(train_texts)
        word_rank = text.rank_words(train_words)
        parent_end.send(word_rank)
        encoded = {"train": text.encode(train_words, word_rank)}
        del train_words
        try:
            encoded["test"] = parent_end.recv()
        except EOFError:
            raise RuntimeError(f"the test-split tokenizer process died (exit code {child.exitcode})") from None
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.terminate()
    return encoded, word_rank


def tokenize_aclimdb(splits: dict[str, RawSplit]) -> tuple[dict[str, TokenizedSplit], dict[bytes, int]]:
    """Rank words on the training split, then encode both splits."""
    encoded, word_rank = _encode_both(splits["train"].texts, splits["test"].texts)
    tokenized = {
        name: TokenizedSplit(*encoded[name], np.asarray(splits[name].labels, dtype=np.uint8)) for name in SPLITS
    }
    return tokenized, word_rank


# --- Reading Keras' imdb.npz ----------------------------------------------------------------------


def read_keras_npz(path: Path) -> dict[str, TokenizedSplit]:
    """Keras' file: x_* are ragged sequences of word ranks, y_* the labels."""
    if not zipfile.is_zipfile(path):
        raise PipelineInputError(
            f"{path} is not an .npz (zip) file: it is corrupt or something else. Download imdb.npz again."
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            missing = {"x_train", "y_train", "x_test", "y_test"} - keys
            if missing:
                raise PipelineInputError(
                    f"{path} lacks {', '.join(sorted(missing))}: it is not Keras' imdb.npz "
                    f"(it has {', '.join(sorted(keys)) or 'no arrays'}). Use Keras' imdb.npz or source=aclimdb."
                )
            arrays = {key: data[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    except PipelineInputError:
        raise
    except ValueError as err:
        if "allow_pickle" not in str(err):
            raise PipelineInputError(f"{path} is not a readable .npz file ({err}).") from None
        arrays = _load_trusted_pickled_npz(path)
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise PipelineInputError(f"{path} is not a readable .npz file ({err}). Download imdb.npz again.") from None
    return {split: _flatten_keras(path, arrays[f"x_{split}"], arrays[f"y_{split}"], split) for split in SPLITS}


def _load_trusted_pickled_npz(path: Path) -> dict[str, np.ndarray]:
    digest = artifacts.sha256_file(path)
    if digest not in TRUSTED_PICKLED_NPZ_SHA256:
        raise PipelineInputError(
            f"{path} holds pickled object arrays and is not Keras' published imdb.npz (sha256 {digest}): "
            "refusing to unpickle it. Use Keras' own imdb.npz or source=aclimdb."
        )
    with np.load(path, allow_pickle=True) as data:  # checksum-verified Keras file only
        return {key: data[key] for key in ("x_train", "y_train", "x_test", "y_test")}


def _flatten_keras(path: Path, sequences: np.ndarray, labels: np.ndarray, split: str) -> TokenizedSplit:
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


def _keras_word_index(npz_path: Path, cache: Path) -> dict[str, int]:
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


# --- The stage ------------------------------------------------------------------------------------


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
    return source, download.cached_download(download.ACLIMDB_URL, cache / "aclImdb_v1.tar.gz", download.ACLIMDB_MD5)


def load_dataset(source: str, path: Path, cache: Path) -> tuple[dict[str, TokenizedSplit], dict[str, int], dict]:
    """Tokenized splits, the word index and facts worth recording, from either source."""
    if source == "keras":
        splits = read_keras_npz(path)
        return splits, _keras_word_index(path, cache), {"undecodable_reviews": 0}
    raw = read_aclimdb_directory(path) if path.is_dir() else read_aclimdb_tarball(path)
    _check_raw_splits(path, raw)
    raw = {name: _sorted_by_name(split) for name, split in raw.items()}
    splits, word_rank = tokenize_aclimdb(raw)
    return splits, text.word_index_json(word_rank), {"undecodable_reviews": {name: raw[name].undecodable for name in SPLITS}}


def ingest(inputs: dict[str, str], config: PipelineConfig, out: artifacts.StageOutput) -> dict[str, str]:
    """Read the configured data and write ``train.npz``, ``test.npz`` and ``word_index.json``."""
    cache = artifacts.cache_dir()
    source, path = locate_data(config, cache)
    log.info("ingesting %s data from %s", source, path)
    splits, word_index, facts = load_dataset(source, path, cache)
    for name, split in splits.items():
        artifacts.save_arrays(out.path(f"{name}_tokens", f"{name}.npz"), tokens=split.tokens, offsets=split.offsets, labels=split.labels)
        log.info(
            "%s: %d reviews (%d positive), %d tokens", name, len(split), int(split.labels.sum()), len(split.tokens)
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


def load_split(path: str | Path) -> TokenizedSplit:
    arrays = artifacts.load_arrays(path)
    return TokenizedSplit(arrays["tokens"], arrays["offsets"], arrays["labels"])
