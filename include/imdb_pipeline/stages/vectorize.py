"""Vectorize: token sequences -> multi-hot rows over the top ``num_words``, stored sparse.

The book's ``vectorize_sequences`` builds a dense float64 25,000 x 10,000 matrix (2 GB per split)
in which 99 % of the entries are 0. Here a split is a CSR matrix of its 1s (``multi_hot.MultiHot``):
the column indices (uint16 when ``num_words`` fits) and row pointers, a few MB per split. The
training rows are shuffled with the seed, and the first ``validation_size`` of them are the
validation set, as the book's ``x_val = x_train[:10000]``.

With ``ngrams`` 2 or 3 the columns are words and n-grams, chosen by ``ngram_features.FeatureTable``. The
rows stay 0/1: a ``weighting`` (tf-idf, Naive-Bayes ratios) is fitted by train on the rows it trains
on and saved inside the model, so validation rows never inform it.
"""

from __future__ import annotations

import logging

import numpy as np

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.core.parameters import PipelineConfig
from imdb_pipeline.features import tokenizer
from imdb_pipeline.features.multi_hot import multi_hot, save_multi_hot
from imdb_pipeline.features.ngram_features import FeatureTable
from imdb_pipeline.features.tokenized import TokenizedSplit, load_split
from imdb_pipeline.store import artifacts
from imdb_pipeline.store.model_store import MODEL_FILES

log = logging.getLogger(__name__)


def shuffled(split: TokenizedSplit, seed: int) -> TokenizedSplit:
    """The split's reviews in a seeded random order (the validation split must mix both classes)."""
    order = np.random.default_rng(seed).permutation(len(split))
    tokens, offsets = tokenizer.reorder(split.tokens, split.offsets, order)
    return TokenizedSplit(tokens, offsets, split.labels[order])


def token_id_bound(vocabulary: int) -> int:
    """One more than the largest token id of a vocabulary this size (ranks from 1, + INDEX_FROM)."""
    return vocabulary + tokenizer.INDEX_FROM + 1


def check_sizes(config: PipelineConfig, train_reviews: int, vocabulary: int) -> None:
    if config.validation_size >= train_reviews:
        raise PipelineInputError(
            f"validation_size={config.validation_size} leaves no training reviews: the training split has "
            f"{train_reviews}. Use a validation_size below {train_reviews} (the book: 10000 of 25000)."
        )
    largest = token_id_bound(vocabulary)
    if config.ngrams == 1 and config.num_words > largest:  # n-grams give many more features than words
        raise PipelineInputError(
            f"num_words={config.num_words} is larger than the vocabulary ({vocabulary} training words + "
            f"{tokenizer.INDEX_FROM + 1} reserved ids = {largest}): use num_words <= {largest}."
        )


def vectorize(inputs: dict[str, str], config: PipelineConfig, out: artifacts.StageOutput) -> dict[str, str]:
    """Write ``train.npz`` (shuffled; validation first) and ``test.npz`` as sparse multi-hot, and
    ``features.npz`` (the n-gram table) when ``ngrams`` > 1."""
    train = load_split(inputs["train_tokens"])
    vocabulary = len(artifacts.read_json(inputs["word_index"]))
    check_sizes(config, len(train), vocabulary)
    features = None
    if config.ngrams > 1:
        features = FeatureTable.fit(
            train, config.num_words, id_bound=token_id_bound(vocabulary), ngrams=config.ngrams
        )
        features.save(out.path("features", MODEL_FILES["features"]))
        log.info(
            "features: %d words and %d n-grams",
            int((features.keys < features.id_bound).sum()),
            int((features.keys >= features.id_bound).sum()),
        )
    for name, split in (
        ("train", shuffled(train, config.seed)),
        ("test", load_split(inputs["test_tokens"])),
    ):
        matrix = multi_hot(split, config.num_words, features)
        save_multi_hot(out.path(f"{name}_multi_hot", f"{name}.npz"), matrix)
        log.info(
            "%s: %d x %d multi-hot, %d ones (%.1f per review, %.2f MB on disk)",
            name,
            len(matrix),
            config.num_words,
            len(matrix.indices),
            len(matrix.indices) / max(len(matrix), 1),
            (matrix.indices.nbytes + matrix.indptr.nbytes) / 1e6,
        )
    out.extra["summary"] = {
        "validation_size": config.validation_size,
        "num_words": config.num_words,
        "ngrams": config.ngrams,
    }
    return out.final_paths()
