"""predict: the command users run, raw review text in, one JSON line out per review, with the
probabilities ``model.predict`` gives on vectorize's rows; bad input is one error line, exit 2."""

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from stage_runs import TINY_PARAMS

from imdb_pipeline.data.aclimdb import iter_reviews
from imdb_pipeline.features.multi_hot import load_multi_hot
from imdb_pipeline.serving import predict
from imdb_pipeline.serving.scorer import Scorer
from imdb_pipeline.stages.runner import run_stage
from imdb_pipeline.store import model_store

pytestmark = pytest.mark.slow
ROUNDING = 5e-7  # the command prints probabilities with 6 decimals


@pytest.fixture(scope="module")
def bigram_run(tiny_aclimdb_tarball, tmp_path_factory):
    """The sweep winner's kind of model (bigrams + dropout) on the tiny data."""
    run_path = tmp_path_factory.mktemp("bigram-run")
    params = {
        **TINY_PARAMS,
        "data_path": str(tiny_aclimdb_tarball),
        "ngrams": 2,
        "num_words": 80,
        "dropout": 0.5,
    }
    outputs = {"ingest": run_stage("ingest", params, run_path)}
    outputs["vectorize"] = run_stage("vectorize", params, run_path, outputs)
    outputs["train"] = run_stage("train", params, run_path, outputs)
    return outputs


def linear_trigram_run(data_path, run_path, weighting, **params):
    """A logistic regression (no hidden layer) on weighted trigram features, on the tiny data."""
    params = {
        **TINY_PARAMS,
        "data_path": str(data_path),
        "ngrams": 3,
        "num_words": 300,
        "hidden_layers": 0,
        "weighting": weighting,
        **params,
    }
    outputs = {"ingest": run_stage("ingest", params, run_path)}
    outputs["vectorize"] = run_stage("vectorize", params, run_path, outputs)
    outputs["train"] = run_stage("train", params, run_path, outputs)
    return outputs


@pytest.fixture(scope="module")
def runs(tiny_run, bigram_run, tiny_aclimdb_tarball, tmp_path_factory):
    linear = {
        f"trigram {weighting}": linear_trigram_run(
            tiny_aclimdb_tarball, tmp_path_factory.mktemp(weighting), weighting, **params
        )
        for weighting, params in (("nb", {}), ("tfidf", {"l2": 0.001}), ("binary", {"dropout": 0.5}))
    }
    return {"unigram": tiny_run["outputs"], "bigram": bigram_run, **linear}


@pytest.fixture(scope="module")
def held_out_reviews(tiny_aclimdb_tarball, tmp_path_factory):
    """The tiny data's raw test reviews, one a line, in the order ingest (and so vectorize) keeps them."""
    test = sorted((r.path, r.raw) for r in iter_reviews(tiny_aclimdb_tarball) if r.split == "test")
    reviews = [raw.decode("utf-8") for _, raw in test]
    path = tmp_path_factory.mktemp("reviews") / "reviews.txt"
    path.write_text("".join(review + "\n" for review in reviews), encoding="utf-8")
    return path


def run_cli(*args, stdin: bytes | str = b""):
    result = subprocess.run(
        [sys.executable, "-m", "imdb_pipeline.serving.predict", *map(str, args)],
        input=stdin.encode() if isinstance(stdin, str) else stdin,
        capture_output=True,
        timeout=300,
    )
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def scores(stdout: str) -> np.ndarray:
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert all(set(row) == {"probability", "label"} for row in rows)
    assert all(row["label"] == ("positive" if row["probability"] >= 0.5 else "negative") for row in rows)
    return np.array([row["probability"] for row in rows])


def keras_predict_on_vectorized_test_rows(outputs) -> np.ndarray:
    from imdb_model import load_model

    model = load_model(outputs["train"]["model"])
    rows = load_multi_hot(outputs["vectorize"]["test_multi_hot"])
    return model.predict(rows.matrix(), verbose=0).reshape(-1)


@pytest.mark.parametrize("kind", ["unigram", "bigram", "trigram nb", "trigram tfidf", "trigram binary"])
def test_the_command_scores_like_model_predict_on_vectorize_rows(runs, kind, held_out_reviews):
    """Each weighting too: its weights travel inside the model, so raw text scores as vectorize's rows."""
    code, stdout, stderr = run_cli("--model", runs[kind]["train"]["model"], "--input", held_out_reviews)
    assert code == 0, stderr
    expected = keras_predict_on_vectorized_test_rows(runs[kind])
    got = scores(stdout)
    assert len(got) == len(expected) == 120
    np.testing.assert_allclose(got, expected, rtol=0, atol=ROUNDING)
    assert np.mean((got >= 0.5) == np.repeat([0, 1], 60)) > 0.8  # neg/ then pos/, as ingested


def test_stdin_one_review_and_an_empty_line(runs):
    model = runs["bigram"]["train"]["model"]
    code, one, stderr = run_cli("--model", model, stdin="superb and moving")  # no final newline
    assert code == 0, stderr
    code, two, stderr = run_cli("--model", model, stdin="superb and moving\r\n\n")
    assert code == 0, stderr
    assert one.splitlines() == two.splitlines()[:1] and len(two.splitlines()) == 2
    assert json.loads(two.splitlines()[1]) == {"probability": None, "label": None, "blank": True}


def test_blank_and_nul_lines_are_read_as_the_inbox_reads_them(runs):
    model = runs["bigram"]["train"]["model"]
    code, out, stderr = run_cli("--model", model, stdin="superb\n \t \nawful\n")
    assert code == 0, stderr
    assert [json.loads(line)["label"] for line in out.splitlines()] == ["positive", None, "negative"]
    code, out, stderr = run_cli("--model", model, stdin="superb\n\0\0\0\n")
    assert code == 2 and "line 2 of stdin holds NUL bytes: it is not a text file" in stderr


@pytest.mark.parametrize("value", ["0", "99999999999999999999", str((1 << 30) + 1)])
def test_an_absurd_review_limit_is_refused_with_a_message(runs, value):
    code, _, stderr = run_cli(
        "--model", runs["bigram"]["train"]["model"], "--max-review-bytes", value, stdin="ok\n"
    )
    assert code == 2 and "--max-review-bytes" in stderr and "from 1 to 1,073,741,824" in stderr
    assert "Traceback" not in stderr


def test_without_model_the_champion_scores_and_an_edited_champion_is_refused(
    runs, held_out_reviews, artifact_root
):
    code, _, stderr = run_cli("--input", held_out_reviews)
    assert code == 2 and "there is no champion model yet" in stderr

    trained = runs["bigram"]["train"]
    files = {name: trained[name] for name in model_store.MODEL_FILES if name in trained}
    model_store.switch_to(model_store.install(files, {"dag_id": "imdb_sentiment", "run": "bigram"}))
    code, stdout, stderr = run_cli("--input", held_out_reviews)
    assert code == 0, stderr
    np.testing.assert_allclose(
        scores(stdout), keras_predict_on_vectorized_test_rows(runs["bigram"]), atol=ROUNDING
    )

    word_index = model_store.champion_dir() / "word_index.json"
    ranks = json.loads(word_index.read_text())
    word_index.write_text(json.dumps({word: ranks[word] + 1 for word in ranks}))
    code, stdout, stderr = run_cli("--input", held_out_reviews)
    assert (code, stdout) == (2, "")
    assert "word_index.json does not match the sha256" in stderr and "--rollback" in stderr
    assert "Traceback" not in stderr

    model_store.champion_dir().unlink()
    model_store.champion_dir().symlink_to("champions/gone")
    code, _, stderr = run_cli("--input", held_out_reviews)
    assert code == 2 and "champions/gone, which is missing" in stderr


@pytest.mark.parametrize("source", ["stdin", "file"])
def test_undecodable_bytes_are_one_error_line(runs, source, tmp_path):
    data = b"fine\ncaf\xe9 latin-1\n"
    path = tmp_path / "reviews.txt"
    path.write_bytes(data)
    args = ("--input", path) if source == "file" else ()
    code, _, stderr = run_cli("--model", runs["unigram"]["train"]["model"], *args, stdin=data)
    name = path if source == "file" else "stdin"
    assert code == 2 and f"error: line 2 of {name} is not UTF-8 text (byte 0xe9 at byte 4" in stderr
    assert "Traceback" not in stderr


def test_a_line_past_the_limit_stops_the_run_without_reading_it_whole(runs, tmp_path):
    model = runs["unigram"]["train"]["model"]
    code, _, stderr = run_cli("--model", model, "--input", "/dev/zero")  # endless: one line, never ending
    assert (
        code == 2
        and "line 1 of /dev/zero is longer than 1,048,576 bytes" in stderr
        and "--max-review-bytes" in stderr
    )
    path = tmp_path / "reviews.txt"
    path.write_text("short\n" + "x" * 21 + "\n")
    code, _, stderr = run_cli("--model", model, "--input", path, "--max-review-bytes", 20)
    assert code == 2 and "line 2 of" in stderr and "longer than 20 bytes" in stderr


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "empty.txt", "no reviews in"),
        (lambda tmp: tmp / "missing.txt", "cannot be read (No such file or directory)"),
        (lambda tmp: tmp, "cannot be read (Is a directory)"),
    ],
)
def test_an_input_without_reviews_is_an_error(runs, tmp_path, make, message):
    (tmp_path / "empty.txt").write_text("")
    code, stdout, stderr = run_cli("--model", runs["unigram"]["train"]["model"], "--input", make(tmp_path))
    assert (code, stdout) == (2, "") and message in stderr and "Traceback" not in stderr


def test_reviews_are_read_in_bounded_chunks(monkeypatch):
    monkeypatch.setattr(predict, "CHUNK_LINES", 3)
    monkeypatch.setattr(predict, "CHUNK_BYTES", 10)
    stream = io.BytesIO(b"\xef\xbb\xbfa\nb\nc\nd\n" + b"x" * 12 + b"\ny\nz")
    chunks = list(predict.review_chunks(stream, "test"))
    assert chunks == [["a", "b", "c"], ["d", "x" * 12], ["y", "z"]]
    assert list(predict.review_chunks(io.BytesIO(b""), "test")) == []


def test_chunks_of_any_size_give_the_same_scores(runs, monkeypatch):
    scorer = Scorer(Path(runs["bigram"]["train"]["model"]))
    reviews = b"superb film\n\nawful, dull\nthe plot\nloved it\n"
    whole = io.StringIO()
    assert predict.write_scores(scorer, predict.review_chunks(io.BytesIO(reviews), "test"), whole) == 4
    monkeypatch.setattr(predict, "CHUNK_LINES", 2)  # chunks of 2, 2 and 1 lines
    chunked = io.StringIO()
    assert predict.write_scores(scorer, predict.review_chunks(io.BytesIO(reviews), "test"), chunked) == 4
    assert chunked.getvalue() == whole.getvalue() and len(whole.getvalue().splitlines()) == 5
