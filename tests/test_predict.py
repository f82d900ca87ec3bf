"""predict: raw review text in, one JSON line out per review, same numbers as model.predict."""

import io
import json
import subprocess
import sys

import numpy as np
import pytest

from imdb_pipeline import predict, vectorize

pytestmark = pytest.mark.slow


def test_scores_raw_text_like_the_model_on_vectorized_input(tiny_run):
    scorer = predict.Scorer(tiny_run["outputs"]["train"]["model"])
    reviews = ["A wonderful, superb film. Loved it!", "Awful<br />boring, the worst waste."]
    probabilities = scorer.probabilities(reviews)
    assert probabilities[0] > 0.5 > probabilities[1]
    from imdb_pipeline import ingest, text

    tokens, offsets = text.encode_texts(reviews, scorer.word_rank)
    features = vectorize.multi_hot(
        ingest.TokenizedSplit(tokens, offsets, np.zeros(2, np.uint8)), scorer.num_words
    )
    direct = scorer.model.predict(features.matrix(), verbose=0).reshape(-1)
    np.testing.assert_allclose(probabilities, direct, atol=1e-6)


def test_one_json_line_per_review(tiny_run):
    scorer = predict.Scorer(tiny_run["outputs"]["train"]["model"])
    out = io.StringIO()
    assert predict.score_lines(scorer, ["great movie\n", "terrible movie\n", "\n"], out) == 3
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [row["label"] for row in rows[:2]] == ["positive", "negative"]
    assert all(set(row) == {"probability", "label"} and 0 <= row["probability"] <= 1 for row in rows)


def run_cli(*args, stdin=""):
    return subprocess.run(
        [sys.executable, "-m", "imdb_pipeline.predict", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_command_line_reads_stdin(tiny_run):
    result = run_cli(
        "--model", tiny_run["outputs"]["train"]["model"], stdin="superb and moving\nawful and dull\n"
    )
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["label"] for line in result.stdout.splitlines()] == ["positive", "negative"]


def test_empty_input_is_an_error(tiny_run, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = run_cli("--model", tiny_run["outputs"]["train"]["model"], "--input", str(empty))
    assert result.returncode == 2 and "no reviews in" in result.stderr


def test_a_file_that_is_not_a_model_is_an_error(tmp_path):
    bogus = tmp_path / "model.keras"
    bogus.write_text("not a model")
    (tmp_path / "word_index.json").write_text("{}")
    result = run_cli("--model", str(bogus), stdin="hello\n")
    assert result.returncode == 2 and "could not be loaded as a Keras model" in result.stderr


def test_features_of_raw_text_equal_ingest_then_vectorize(tiny_run):
    from imdb_pipeline import ingest, text

    scorer = predict.Scorer(tiny_run["outputs"]["train"]["model"])
    reviews = ["A wonderful film<br />LOVED it", "", "unseenword awful", "the the the movie, plot; actor!"]
    tokens, offsets = text.encode_texts(reviews, scorer.word_rank)
    expected = vectorize.multi_hot(
        ingest.TokenizedSplit(tokens, offsets, np.zeros(4, np.uint8)), scorer.num_words
    )
    got = scorer.features(reviews)
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)


def test_a_bigram_model_scores_raw_text_with_its_feature_table(tiny_aclimdb_tarball, tmp_path, artifact_root):
    from conftest import TINY_PARAMS

    from imdb_pipeline import ingest
    from imdb_pipeline.pipeline import run_stage

    params = {
        **TINY_PARAMS,
        "data_path": str(tiny_aclimdb_tarball),
        "ngrams": 2,
        "num_words": 80,
        "dropout": 0.5,
    }
    ingested = run_stage("ingest", params, tmp_path)
    vectorized = run_stage("vectorize", params, tmp_path, [ingested])
    trained = run_stage("train", params, tmp_path, [ingested, vectorized])
    assert {"model", "word_index", "features"} <= set(trained)

    # Raw test reviews scored by the model get exactly the rows vectorize made from ingest's tokens.
    reviews = [
        raw.decode("utf-8")
        for split, _, _, raw in ingest.iter_reviews(tiny_aclimdb_tarball)
        if split == "test"
    ]
    vectorized_test = vectorize.load_multi_hot(vectorized["test_multi_hot"])
    scorer = predict.Scorer(trained["model"], parallel=False)
    got = scorer.features(reviews)
    np.testing.assert_array_equal(got.indptr, vectorized_test.indptr)
    np.testing.assert_array_equal(got.indices, vectorized_test.indices)
    assert (got.indices >= table_size(trained)).sum() == 0 and len(got.indices) > len(reviews)
    probabilities = scorer.probabilities(reviews[:5])
    np.testing.assert_allclose(
        probabilities, scorer.model.predict(got.matrix(slice(0, 5)), verbose=0).reshape(-1), atol=1e-6
    )


def table_size(trained):
    table = vectorize.FeatureTable.load(trained["features"])
    assert (table.keys >= table.id_bound).any()  # it holds bigrams
    return table.num_words
