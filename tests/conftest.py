"""Shared fixtures: tiny generated IMDB-like datasets in both source formats, and an isolated Airflow.

Airflow reads its configuration when first imported, so the environment is set here, before any
test module imports it: a throw-away AIRFLOW_HOME (SQLite), this project's dags/ and plugins/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest

PROJECT = Path(__file__).resolve().parents[1]

_home = Path(tempfile.mkdtemp(prefix="imdb-tests-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_home)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_home}/airflow.db"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(PROJECT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.pop("IMDB_DATA_PATH", None)  # tests say where their data is
os.environ["IMDB_ARTIFACT_ROOT"] = str(Path(os.environ["AIRFLOW_HOME"]) / "artifacts")

REAL_DATA = Path(os.environ.get("IMDB_REAL_DATA", PROJECT.parent / "shared" / "data" / "aclImdb_v1_labeled.tar.gz"))

# Words that carry the sentiment of the generated reviews, and neutral filler.
POSITIVE = ["great", "wonderful", "excellent", "loved", "brilliant", "moving", "superb", "fun"]
NEGATIVE = ["awful", "boring", "terrible", "waste", "dull", "worst", "bad", "poor"]
FILLER = ["the", "movie", "film", "a", "plot", "actor", "story", "was", "and", "it", "this", "scene",
          "director", "music", "ending", "characters", "i", "of", "to", "is"]
TINY_PARAMS = {"num_words": 40, "validation_size": 40, "epochs": 5, "batch_size": 16, "learning_rate": 0.01, "seed": 7}


def make_review(rng: np.random.Generator, positive: bool) -> str:
    words = list(rng.choice(FILLER, size=rng.integers(15, 40)))
    cue = POSITIVE if positive else NEGATIVE
    other = NEGATIVE if positive else POSITIVE
    for _ in range(rng.integers(2, 5)):
        words.insert(rng.integers(0, len(words)), str(rng.choice(cue)))
    if rng.random() < 0.15:
        words.insert(rng.integers(0, len(words)), str(rng.choice(other)))
    sentence = " ".join(words)
    return f"{sentence.capitalize()}.<br /><br />{'Really!' if positive else 'Sadly, no.'}"


def write_aclimdb(root: Path, per_class: int = 60, seed: int = 0) -> Path:
    """An aclImdb-shaped folder: train|test/pos|neg/<id>_<rating>.txt, plus an unsup/ to ignore."""
    rng = np.random.default_rng(seed)
    dataset = root / "aclImdb"
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            folder = dataset / split / label
            folder.mkdir(parents=True)
            for i in range(per_class):
                rating = 8 if label == "pos" else 2
                (folder / f"{i}_{rating}.txt").write_text(make_review(rng, label == "pos"), encoding="utf-8")
    (dataset / "train" / "unsup").mkdir()
    (dataset / "train" / "unsup" / "0_0.txt").write_text("unlabeled " * 50)
    (dataset / "README").write_text("tiny generated aclImdb for tests\n")
    return dataset


def tar_directory(dataset: Path, tarball: Path) -> Path:
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(dataset, arcname=dataset.name)
    return tarball


@pytest.fixture(scope="session")
def tiny_aclimdb_dir(tmp_path_factory) -> Path:
    return write_aclimdb(tmp_path_factory.mktemp("aclimdb"))


@pytest.fixture(scope="session")
def tiny_aclimdb_tarball(tiny_aclimdb_dir, tmp_path_factory) -> Path:
    return tar_directory(tiny_aclimdb_dir, tmp_path_factory.mktemp("tarball") / "aclImdb_tiny.tar.gz")


def write_keras_npz(folder: Path, per_class: int = 60, seed: int = 1) -> Path:
    """A file in the layout of Keras' imdb.npz (ragged object arrays of word ranks) + word index."""
    rng = np.random.default_rng(seed)
    vocabulary = FILLER + POSITIVE + NEGATIVE
    word_index = {word: rank for rank, word in enumerate(vocabulary, start=1)}
    arrays = {}
    for split in ("train", "test"):
        sequences, labels = [], []
        for i in range(2 * per_class):
            positive = i % 2 == 0
            words = make_review(rng, positive).lower().replace("<br />", " ").replace(".", " ").replace(",", " ").replace("!", " ").split()
            sequences.append([word_index[w] for w in words if w in word_index])
            labels.append(int(positive))
        arrays[f"x_{split}"] = np.array(sequences, dtype=object)
        arrays[f"y_{split}"] = np.array(labels, dtype=np.int64)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "imdb.npz"
    np.savez(path, **arrays)
    (folder / "imdb_word_index.json").write_text(json.dumps(word_index))
    return path


@pytest.fixture(scope="session")
def tiny_keras_npz_file(tmp_path_factory) -> Path:
    return write_keras_npz(tmp_path_factory.mktemp("keras"))


@pytest.fixture
def tiny_keras_npz(tiny_keras_npz_file, monkeypatch) -> Path:
    """The tiny pickled npz, registered as trusted the way Keras' published checksum is."""
    from imdb_pipeline import artifacts, ingest

    monkeypatch.setattr(
        ingest, "TRUSTED_PICKLED_NPZ_SHA256", ingest.TRUSTED_PICKLED_NPZ_SHA256 | {artifacts.sha256_file(tiny_keras_npz_file)}
    )
    return tiny_keras_npz_file


@pytest.fixture
def artifact_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "artifacts"
    monkeypatch.setenv("IMDB_ARTIFACT_ROOT", str(root))
    return root


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated metadata database in the test AIRFLOW_HOME (needed by dag.test())."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not REAL_DATA.is_file():
        pytest.skip(f"real data not found at {REAL_DATA}: set IMDB_REAL_DATA to aclImdb_v1_labeled.tar.gz (or aclImdb_v1.tar.gz)")
    return REAL_DATA


@pytest.fixture(scope="session")
def tiny_run(tiny_aclimdb_tarball, tmp_path_factory) -> dict:
    """One finished pipeline run on the tiny tarball, shared by the tests that read its outputs."""
    from imdb_pipeline.pipeline import run_pipeline

    run_path = tmp_path_factory.mktemp("tiny-run")
    params = {**TINY_PARAMS, "data_path": str(tiny_aclimdb_tarball)}
    return {"path": run_path, "params": params, "outputs": run_pipeline(params, run_path)}
