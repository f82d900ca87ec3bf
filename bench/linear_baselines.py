"""The linear baseline the sweep must beat: scikit-learn logistic regression on Naive-Bayes-weighted
binary n-grams (NBSVM's features, Wang & Manning 2012), with this project's tokenizer.

Reviews are tokenized by the project's ingest (``features/tokenizer.py``: the Keras IMDB tokenization); every
word, bigram and trigram seen in a training review is a column (no frequency cut, as NBSVM);
the Naive-Bayes log-count ratios come from the training reviews only. Independent of the
pipeline's ``FeatureTable`` and Keras model: the same tokens, scikit-learn's fit. Prints JSON, one
line per (ngrams, C).

    python bench/linear_baselines.py --data ../shared/data/aclImdb_v1_labeled.tar.gz
    python bench/linear_baselines.py --data DATA --ngrams 2 3 --C 0.1 1
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse
from sklearn.linear_model import LogisticRegression

from imdb_pipeline.features import tokenizer
from imdb_pipeline.features.tokenized import TokenizedSplit, load_split
from imdb_pipeline.stages.runner import run_stage
from imdb_pipeline.store import artifacts


def ngram_rows(split: TokenizedSplit, ngrams: int, id_bound: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, key) of every word and run of 2..ngrams words inside a review (START, OOV excluded)."""
    tokens = split.tokens.astype(np.int64)
    rows = np.repeat(np.arange(len(split)), np.diff(split.offsets))
    word = tokens >= tokenizer.INDEX_FROM  # START begins each review, so no run spans two reviews
    all_rows, all_keys = [rows[word]], [tokens[word]]
    for n in range(2, ngrams + 1):
        count = len(tokens) - n + 1
        keys, valid = tokens[:count].copy(), word[:count].copy()
        for offset in range(1, n):
            keys = keys * id_bound + tokens[offset : offset + count]
            valid &= word[offset : offset + count]
        all_rows.append(rows[:count][valid])
        all_keys.append(keys[valid])
    return np.concatenate(all_rows), np.concatenate(all_keys)


def binary_matrices(train: TokenizedSplit, test: TokenizedSplit, ngrams: int, id_bound: int):
    """0/1 CSR matrices over every n-gram of the training reviews (test n-grams never seen: dropped)."""
    train_rows, train_keys = ngram_rows(train, ngrams, id_bound)
    vocabulary, train_columns = np.unique(train_keys, return_inverse=True)
    del train_keys
    test_rows, test_keys = ngram_rows(test, ngrams, id_bound)
    position = np.searchsorted(vocabulary, test_keys).clip(max=len(vocabulary) - 1)
    known = vocabulary[position] == test_keys
    matrices = []
    for rows, columns, size in (
        (train_rows, train_columns, len(train)),
        (test_rows[known], position[known], len(test)),
    ):
        matrix = scipy.sparse.csr_matrix(
            (np.ones(len(rows), np.float32), (rows, columns)), shape=(size, len(vocabulary))
        )
        matrix.data[:] = 1  # duplicates were summed: binary again
        matrices.append(matrix)
    return matrices


def nb_ratios(x: scipy.sparse.csr_matrix, labels: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    p = alpha + np.asarray(x[labels == 1].sum(axis=0)).ravel()
    q = alpha + np.asarray(x[labels == 0].sum(axis=0)).ravel()
    return np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="aclImdb directory or tarball")
    parser.add_argument("--ngrams", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--C", type=float, nargs="+", default=[1.0], help="inverse L2 strengths")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        outputs = run_stage("ingest", {"data_path": args.data}, Path(folder))
        train, test = load_split(outputs["train_tokens"]), load_split(outputs["test_tokens"])
        id_bound = len(artifacts.read_json(outputs["word_index"])) + tokenizer.INDEX_FROM + 1
        ingest_seconds = time.perf_counter() - started
    for ngrams in args.ngrams:
        started = time.perf_counter()
        x_train, x_test = binary_matrices(train, test, ngrams, id_bound)
        ratios = nb_ratios(x_train, train.labels)
        x_train, x_test = x_train.multiply(ratios).tocsr(), x_test.multiply(ratios).tocsr()
        features_seconds = time.perf_counter() - started
        for c in args.C:
            started = time.perf_counter()
            model = LogisticRegression(C=c, solver="liblinear", dual=True, max_iter=1000)
            model.fit(x_train, train.labels)
            accuracy = float((model.predict(x_test) == test.labels).mean())
            print(
                json.dumps(
                    {
                        "model": "scikit-learn NB-LR (binary n-grams, NB log-count ratios, liblinear)",
                        "ngrams": ngrams,
                        "C": c,
                        "columns": x_train.shape[1],
                        "test_accuracy": round(accuracy, 4),
                        "ingest_seconds": round(ingest_seconds, 1),
                        "features_seconds": round(features_seconds, 1),
                        "fit_seconds": round(time.perf_counter() - started, 1),
                        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
