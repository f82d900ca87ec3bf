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
import pickle
import re
import subprocess
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

import numpy as np

from imdb_pipeline import artifacts, download, resources, text
from imdb_pipeline.config import PipelineConfig
from imdb_pipeline.errors import PipelineInputError

log = logging.getLogger(__name__)

SPLITS = ("train", "test")
LABELS = {"neg": 0, "pos": 1}
_REVIEW_PATH = re.compile(r"(?:^|/)(train|test)/(pos|neg)/[^/]+\.txt$")
# Keras' own imdb.npz holds ragged object arrays (pickled); it is loaded with pickle only after
# its sha256 matches the one Keras publishes. Any other pickled file is refused.
TRUSTED_PICKLED_NPZ_SHA256 = {download.KERAS_IMDB_NPZ[1]}


# Reviews are tokenized in chunks as they are read: memory holds one chunk of text, not the corpus.
CHUNK_REVIEWS = 5000


@dataclasses.dataclass
class TokenizedSplit:
    tokens: np.ndarray  # int32, flat
    offsets: np.ndarray  # int64, len n + 1
    labels: np.ndarray  # uint8

    def __len__(self) -> int:
        return len(self.labels)


# --- Reading the raw aclImdb dataset ------------------------------------------------------------


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


Review = tuple[str, int, str, bytes]  # (split, label, path, raw bytes)


def _review(name: str) -> tuple[str, int] | None:
    match = _REVIEW_PATH.search(name)
    return (match.group(1), LABELS[match.group(2)]) if match else None


# Archives up to this size are decompressed in memory (~4x their size) and their members sliced
# out: ~25 % faster than streaming 50,000 small members through extractfile. Larger ones stream.
IN_MEMORY_MAX_BYTES = 48 << 20


def _members(path: Path) -> Iterator[tuple[tarfile.TarInfo, Callable[[], bytes]]]:
    if path.stat().st_size <= IN_MEMORY_MAX_BYTES:
        with open(path, "rb") as handle:
            data = handle.read()
        if data[:2] == b"\x1f\x8b":
            data = zlib.decompress(data, wbits=47)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for member in archive:
                yield member, lambda m=member: data[m.offset_data : m.offset_data + m.size]
        return
    with tarfile.open(path, "r|*") as archive:
        for member in archive:
            yield member, lambda m=member: archive.extractfile(m).read()


def iter_tarball(path: Path) -> Iterator[Review]:
    """The labeled reviews of an aclImdb tarball; nothing is extracted to disk."""
    try:
        for member, read in _members(path):
            _check_member(path, member)
            found = _review(member.name) if member.isfile() else None
            if found:
                yield (*found, member.name, read())
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise PipelineInputError(
            f"{path} is not a readable .tar.gz ({err.__class__.__name__}: {err}): the file is corrupt or "
            "truncated. Download aclImdb_v1.tar.gz again or point data_path at an extracted aclImdb folder."
        ) from None


def _dataset_dir(path: Path) -> Path:
    """The folder holding train/ and test/: ``path`` itself or its ``aclImdb`` child."""
    for candidate in (path, path / "aclImdb"):
        if (candidate / "train").is_dir() or (candidate / "test").is_dir():
            return candidate
    raise PipelineInputError(
        f"{path} has no train/ or test/ folder: point data_path at the aclImdb folder "
        "(the one holding train/pos, train/neg, test/pos, test/neg)."
    )


def iter_directory(path: Path) -> Iterator[Review]:
    root = _dataset_dir(path)
    for split in SPLITS:
        for label_name, label in LABELS.items():
            folder = root / split / label_name
            if not folder.is_dir():
                continue
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if entry.name.endswith(".txt") and entry.is_file(follow_symlinks=False):
                    with open(entry.path, "rb") as handle:
                        yield split, label, f"{split}/{label_name}/{entry.name}", handle.read()


def iter_reviews(path: Path) -> Iterator[Review]:
    """The labeled reviews of an aclImdb folder or tarball (``unsup`` and other files ignored)."""
    return iter_directory(path) if path.is_dir() else iter_tarball(path)


class SplitBuilder:
    """One split's reviews, encoded chunk by chunk (provisional word ids) as they are read."""

    def __init__(self, name: str, vocabulary: text.Vocabulary):
        self.name, self.vocabulary = name, vocabulary
        self.paths: list[str] = []
        self.labels: list[int] = []
        self.undecodable = 0
        self._texts: list[str] = []
        self._ids: list[np.ndarray] = []
        self._lengths: list[np.ndarray] = []

    def add(self, label: int, path: str, raw: bytes) -> None:
        try:
            review = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.undecodable += 1
            review = raw.decode("utf-8", errors="replace")
        self._texts.append(review)
        self.paths.append(path)
        self.labels.append(label)
        if len(self._texts) >= CHUNK_REVIEWS:
            self.flush()

    def flush(self) -> None:
        if self._texts:
            ids, lengths = self.vocabulary.add(text.split_words(self._texts))
            self._ids.append(ids)
            self._lengths.append(lengths)
            self._texts = []

    def ids(self) -> np.ndarray:
        return np.concatenate(self._ids) if self._ids else np.zeros(0, np.int32)

    def tokenized(self, rank_of_id: np.ndarray) -> TokenizedSplit:
        """Keras token ids, reviews in a canonical order (by path: a folder and its tarball agree).
        Chunk by chunk, so the int64 temporaries stay the size of a chunk."""
        token_chunks, length_chunks = [], []
        while self._ids:
            tokens, offsets = text.tokens_from_ids(self._ids.pop(0), self._lengths.pop(0), rank_of_id)
            token_chunks.append(tokens)
            length_chunks.append(np.diff(offsets))
        tokens = np.concatenate(token_chunks) if token_chunks else np.zeros(0, np.int32)
        offsets = np.zeros(len(self.paths) + 1, dtype=np.int64)
        np.cumsum(np.concatenate(length_chunks) if length_chunks else [], out=offsets[1:])
        del token_chunks
        order = np.array(sorted(range(len(self.paths)), key=self.paths.__getitem__), dtype=np.int64)
        tokens, offsets = text.reorder(tokens, offsets, order)
        return TokenizedSplit(tokens, offsets, np.asarray(self.labels, dtype=np.uint8)[order])

    def check(self, source: Path) -> None:
        if not self.labels:
            raise PipelineInputError(
                f"{source} has no {self.name} reviews (expected {self.name}/pos/*.txt and {self.name}/neg/*.txt): "
                "is this the Large Movie Review Dataset?"
            )
        missing = sorted(name for name, value in LABELS.items() if value not in self.labels)
        if missing:
            raise PipelineInputError(
                f"{source}: the {self.name} split has no {'/'.join(missing)} reviews, so a classifier cannot "
                f"learn both classes. Check {self.name}/{missing[0]}/ in the dataset."
            )
        if self.undecodable:
            log.warning(
                "%s: %d %s reviews were not valid UTF-8; decoded with replacement characters",
                source,
                self.undecodable,
                self.name,
            )


# A second process pays off (both cores) from about this much data on.
PARALLEL_MIN_BYTES = 4 << 20


def _read_splits(path: Path, splits: tuple[str, ...]) -> dict[str, SplitBuilder]:
    """The given splits, read in one pass and tokenized with one shared (provisional) vocabulary."""
    vocabulary = text.Vocabulary()
    builders = {split: SplitBuilder(split, vocabulary) for split in splits}
    for review_split, label, review_path, raw in iter_reviews(path):
        if review_split in builders:
            builders[review_split].add(label, review_path, raw)
    for builder in builders.values():
        builder.flush()
    return builders


def _read_split_main(argv: list[str]) -> int:
    """``python -m imdb_pipeline.ingest --read-split SPLIT PATH``: the helper process of
    ``tokenize_aclimdb``. Writes the pickled (status, payload) to stdout for the parent."""
    split, path = argv[1], Path(argv[2])
    try:
        builder = _read_splits(path, (split,))[split]
        builder.check(path)
        result = ("ok", (builder, resources.peak_rss_mb()))
    except PipelineInputError as err:
        result = ("error", err)
    sys.stdout.buffer.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    return 0


def _adopt(builder: SplitBuilder, vocabulary: text.Vocabulary) -> None:
    """Re-express a builder's provisional ids in another vocabulary (adding its unseen words)."""
    words = sorted(builder.vocabulary.ids, key=builder.vocabulary.ids.__getitem__)
    ids, _ = vocabulary.add([words])
    builder._ids = [ids[chunk] for chunk in builder._ids]
    builder.vocabulary = vocabulary


def _dataset_bytes(path: Path) -> int:
    if path.is_dir():
        folder = _dataset_dir(path) / "test"
        return sum(
            entry.stat().st_size
            for label in LABELS
            if (folder / label).is_dir()
            for entry in os.scandir(folder / label)
        )
    return path.stat().st_size


def tokenize_aclimdb(path: Path) -> tuple[dict[str, TokenizedSplit], dict[str, int], dict]:
    """Read and tokenize in one streaming pass per split and rank the words on the training split.

    On a large dataset the test split is read and tokenized by a second process while
    this one does the training split: both cores, and each process holds half the data.
    """
    child, child_peak_mb = None, 0.0
    if _dataset_bytes(path) >= PARALLEL_MIN_BYTES and (os.cpu_count() or 1) > 1:
        # A fresh interpreter (not multiprocessing's spawn, which would re-import the parent's
        # __main__: the whole Airflow CLI when this runs in a task).
        child = subprocess.Popen(
            [sys.executable, "-m", "imdb_pipeline.ingest", "--read-split", "test", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    try:
        if child is None:  # one pass over the data for both splits
            builders = _read_splits(path, SPLITS)
            for builder in builders.values():
                builder.check(path)
            train, test = builders["train"], builders["test"]
        else:
            train = _read_splits(path, ("train",))["train"]
            train.check(path)
            output, errors = child.communicate()
            if child.returncode != 0:
                raise RuntimeError(
                    f"the test-split reader failed (exit code {child.returncode}): {errors.decode()[-2000:]}"
                )
            # Our own child's reply over a private pipe (the same trust as multiprocessing's).
            status, payload = pickle.loads(output)
            if status == "error":
                raise payload
            test, child_peak_mb = payload
            _adopt(test, train.vocabulary)
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
    rank_of_id, word_rank = train.vocabulary.ranks(train.ids())
    builders = {"train": train, "test": test}
    splits = {name: builder.tokenized(rank_of_id) for name, builder in builders.items()}
    facts = {
        "undecodable_reviews": {name: builder.undecodable for name, builder in builders.items()},
        "reader_process_peak_rss_mb": round(child_peak_mb, 1),
    }
    return splits, text.word_index_json(word_rank), facts


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
        raise PipelineInputError(
            f"{path} is not a readable .npz file ({err}). Download imdb.npz again."
        ) from None
    return {
        split: _flatten_keras(path, arrays[f"x_{split}"], arrays[f"y_{split}"], split) for split in SPLITS
    }


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
    url, checksum = download.aclimdb_download()
    return source, download.cached_download(url, cache / "aclImdb_v1.tar.gz", checksum)


def load_dataset(
    source: str, path: Path, cache: Path
) -> tuple[dict[str, TokenizedSplit], dict[str, int], dict]:
    """Tokenized splits, the word index and facts worth recording, from either source."""
    if source == "keras":
        splits = read_keras_npz(path)
        return splits, _keras_word_index(path, cache), {"undecodable_reviews": 0}
    return tokenize_aclimdb(path)


def ingest(inputs: dict[str, str], config: PipelineConfig, out: artifacts.StageOutput) -> dict[str, str]:
    """Read the configured data and write ``train.npz``, ``test.npz`` and ``word_index.json``."""
    cache = artifacts.cache_dir()
    source, path = locate_data(config, cache)
    log.info("ingesting %s data from %s", source, path)
    splits, word_index, facts = load_dataset(source, path, cache)
    if out.meter is not None:  # the task's memory includes its helper process
        out.meter.add_child_peak(facts.get("reader_process_peak_rss_mb", 0.0))
    for name, split in splits.items():
        artifacts.save_arrays(
            out.path(f"{name}_tokens", f"{name}.npz"),
            tokens=split.tokens,
            offsets=split.offsets,
            labels=split.labels,
        )
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


def load_split(path: str | Path) -> TokenizedSplit:
    arrays = artifacts.load_arrays(path)
    return TokenizedSplit(arrays["tokens"], arrays["offsets"], arrays["labels"])


if __name__ == "__main__" and sys.argv[1:2] == ["--read-split"]:
    # Through the package's module (not __main__), so the parent can unpickle its classes.
    from imdb_pipeline.ingest import _read_split_main as read_split_main

    raise SystemExit(read_split_main(sys.argv[1:]))
