"""Vectorize: the stage shuffles with the seed, refuses sizes that cannot work, saves an n-gram table."""

import numpy as np
import pytest

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.features import ngram_features, tokenizer
from imdb_pipeline.features.multi_hot import load_multi_hot
from imdb_pipeline.features.tokenized import TokenizedSplit
from imdb_pipeline.stages import vectorize
from imdb_pipeline.stages.runner import run_stage


def split_of(sequences, labels):
    lengths = np.array([len(s) for s in sequences])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return TokenizedSplit(np.concatenate(sequences).astype(np.int32), offsets, np.array(labels, np.uint8))


def test_shuffled_keeps_each_review_with_its_label():
    sequences = [[1, 10 + i] * (i + 1) for i in range(20)]
    original = split_of(sequences, [i % 2 for i in range(20)])
    mixed = vectorize.shuffled(original, seed=3)
    pairs = {tuple(mixed.tokens[mixed.offsets[i] : mixed.offsets[i + 1]]): mixed.labels[i] for i in range(20)}
    assert pairs == {tuple(s): i % 2 for i, s in enumerate(sequences)}
    assert not np.array_equal(mixed.labels, original.labels)


def test_stage_shuffles_train_with_the_seed_and_keeps_test_order(tiny_aclimdb_dir, tmp_path, artifact_root):
    params = {"data_path": str(tiny_aclimdb_dir), "num_words": 40, "validation_size": 40, "seed": 1}
    run_stage("ingest", params, tmp_path)
    first = load_multi_hot(run_stage("vectorize", params, tmp_path)["train_multi_hot"])
    again = load_multi_hot(run_stage("vectorize", params, tmp_path)["train_multi_hot"])
    other = load_multi_hot(run_stage("vectorize", {**params, "seed": 2}, tmp_path)["train_multi_hot"])
    np.testing.assert_array_equal(first.labels, again.labels)
    assert not np.array_equal(first.labels, other.labels)
    assert 10 < first.labels[:40].sum() < 30  # the validation rows mix both classes
    test = load_multi_hot(tmp_path / "vectorize" / "test.npz")
    assert test.labels[:60].sum() == 0 and test.labels[60:].all()  # neg/ then pos/, as ingested


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"validation_size": 120}, "leaves no training reviews"),
        ({"num_words": 100000}, "larger than the vocabulary"),
    ],
)
def test_sizes_that_cannot_work_are_refused(tiny_aclimdb_dir, tmp_path, artifact_root, params, message):
    base = {"data_path": str(tiny_aclimdb_dir), "num_words": 40, "validation_size": 40}
    run_stage("ingest", base, tmp_path)
    with pytest.raises(PipelineInputError, match=message):
        run_stage("vectorize", {**base, **params}, tmp_path)
    assert not (tmp_path / "vectorize").exists()


def test_bigram_stage_saves_its_feature_table(tiny_aclimdb_dir, tmp_path, artifact_root):
    params = {"data_path": str(tiny_aclimdb_dir), "num_words": 60, "validation_size": 20, "ngrams": 2}
    ingested = run_stage("ingest", params, tmp_path)
    outputs = run_stage("vectorize", params, tmp_path, {"ingest": ingested})
    table = ngram_features.FeatureTable.load(outputs["features"])
    assert len(table.keys) == 60 - tokenizer.INDEX_FROM and (table.keys >= table.id_bound).any()
    assert load_multi_hot(outputs["train_multi_hot"]).num_words == 60
