"""Small synthetic IMDB-like datasets in both source layouts, for tests and smoke runs.

Reviews are filler words with a few sentiment cue words, so a tiny model learns them in seconds.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np

POSITIVE = ["great", "wonderful", "excellent", "loved", "brilliant", "moving", "superb", "fun"]
NEGATIVE = ["awful", "boring", "terrible", "waste", "dull", "worst", "bad", "poor"]
FILLER = [
    "the",
    "movie",
    "film",
    "a",
    "plot",
    "actor",
    "story",
    "was",
    "and",
    "it",
    "this",
    "scene",
    "director",
    "music",
    "ending",
    "characters",
    "i",
    "of",
    "to",
    "is",
]
# Parameters under which the book's model learns these reviews in a few seconds.
SMALL_PARAMS = {
    "num_words": 40,
    "validation_size": 40,
    "epochs": 5,
    "batch_size": 16,
    "learning_rate": 0.01,
    "seed": 7,
}


def make_review(rng: np.random.Generator, positive: bool) -> str:
    words = list(rng.choice(FILLER, size=rng.integers(15, 40)))
    cue, other = (POSITIVE, NEGATIVE) if positive else (NEGATIVE, POSITIVE)
    for _ in range(rng.integers(2, 5)):
        words.insert(rng.integers(0, len(words)), str(rng.choice(cue)))
    if rng.random() < 0.15:
        words.insert(rng.integers(0, len(words)), str(rng.choice(other)))
    return f"{' '.join(words).capitalize()}.<br /><br />{'Really!' if positive else 'Sadly, no.'}"


def write_aclimdb(root: Path, per_class: int = 60, seed: int = 0) -> Path:
    """``root/aclImdb``: train|test/pos|neg/<id>_<rating>.txt, plus an unsup/ to be ignored."""
    rng = np.random.default_rng(seed)
    dataset = Path(root) / "aclImdb"
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            folder = dataset / split / label
            folder.mkdir(parents=True)
            for i in range(per_class):
                rating = 8 if label == "pos" else 2
                (folder / f"{i}_{rating}.txt").write_text(make_review(rng, label == "pos"), encoding="utf-8")
    (dataset / "train" / "unsup").mkdir()
    (dataset / "train" / "unsup" / "0_0.txt").write_text("unlabeled " * 50)
    (dataset / "README").write_text("small synthetic aclImdb\n")
    return dataset


def tar_directory(dataset: Path, tarball: Path) -> Path:
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(dataset, arcname=Path(dataset).name)
    return tarball


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
            review = make_review(rng, positive).lower().replace("<br />", " ")
            words = review.replace(".", " ").replace(",", " ").replace("!", " ").split()
            sequences.append([word_index[w] for w in words if w in word_index])
            labels.append(int(positive))
        arrays[f"x_{split}"] = np.array(sequences, dtype=object)
        arrays[f"y_{split}"] = np.array(labels, dtype=np.int64)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "imdb.npz"
    np.savez(path, **arrays)
    (folder / "imdb_word_index.json").write_text(json.dumps(word_index))
    return path


def write_synthetic_corpus(
    tarball: Path,
    train_reviews: int = 100_000,
    test_reviews: int = 25_000,
    vocabulary: int = 90_000,
    mean_words: int = 230,
    seed: int = 0,
) -> Path:
    """A large aclImdb-shaped tarball of synthetic reviews, for memory tests at scale.

    Words follow a Zipf law over ``vocabulary`` made-up words with review lengths like IMDB's
    (about 230 words); 2 % of the vocabulary leans positive or negative, so there is something
    to learn. Written as a stream: the corpus is never held in memory whole.
    """
    rng = np.random.default_rng(seed)
    words = np.array([f"w{np.base_repr(i, 36).lower()}" for i in range(vocabulary)], dtype=object)
    ranks = np.arange(1, vocabulary + 1)
    probabilities = 1.0 / ranks
    probabilities /= probabilities.sum()
    cues = rng.choice(np.arange(50, vocabulary // 10), size=vocabulary // 50, replace=False)
    positive_cues, negative_cues = cues[: len(cues) // 2], cues[len(cues) // 2 :]
    with tarfile.open(tarball, "w:gz", compresslevel=1) as archive:
        for split, count in (("test", test_reviews), ("train", train_reviews)):
            labels = rng.integers(0, 2, count)
            lengths = np.clip(rng.lognormal(np.log(mean_words) - 0.3, 0.75, count).astype(np.int64), 10, 2500)
            offsets = np.concatenate([[0], np.cumsum(lengths)])
            ids = rng.choice(vocabulary, size=int(offsets[-1]), p=probabilities)
            # About one word in 25 is a cue word of the review's sentiment, at random places.
            cue_counts = np.maximum(1, lengths // 25)
            review_of_cue = np.repeat(np.arange(count), cue_counts)
            places = offsets[review_of_cue] + (
                rng.random(len(review_of_cue)) * lengths[review_of_cue]
            ).astype(np.int64)
            cue_pool = np.where(labels[review_of_cue] == 1, 0, 1)
            ids[places] = np.where(
                cue_pool == 0, rng.choice(positive_cues, len(places)), rng.choice(negative_cues, len(places))
            )
            text = words[ids]
            for i in range(count):
                body = (
                    " ".join(text[offsets[i] : offsets[i + 1]]).capitalize() + ".<br /><br />The end."
                ).encode()
                info = tarfile.TarInfo(
                    f"aclImdb/{split}/{'pos' if labels[i] else 'neg'}/{i}_{8 if labels[i] else 2}.txt"
                )
                info.size = len(body)
                archive.addfile(info, io.BytesIO(body))
    return tarball
