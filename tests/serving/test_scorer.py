"""scorer: a model folder is used only as the train stage wrote it; raw text gets vectorize's rows."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scoring_support import reviews

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.features import ngram_features, tokenizer
from imdb_pipeline.features.multi_hot import multi_hot
from imdb_pipeline.features.tokenized import TokenizedSplit, load_split
from imdb_pipeline.serving import scorer
from imdb_pipeline.serving.batch_statistics import BatchStats
from imdb_pipeline.stages import vectorize
from imdb_pipeline.store import artifacts

pytestmark = pytest.mark.slow

REVIEWS = ["A wonderful film<br />LOVED it", "", "unseenword awful", "the the the movie, plot; actor!"]


@pytest.fixture(scope="module")
def trained(tiny_run):
    return tiny_run["outputs"]["train"]


def model_folder(path, trained, **files):
    """A finished stage folder with the trained model's files, some replaced (bytes), manifest to match."""
    with artifacts.stage_writer(path, "train") as out:
        for name, filename in scorer.MODEL_FILES.items():
            if filename in files:
                out.path(name, filename).write_bytes(files[filename])
            elif name in trained:
                shutil.copyfile(trained[name], out.path(name, filename))
    return path / "train" / "model.keras"


def test_raw_text_gets_the_rows_vectorize_makes_from_ingest_tokens(trained):
    model = scorer.Scorer(trained["model"])
    tokens, offsets = tokenizer.encode(tokenizer.split_words(REVIEWS), model.word_rank)
    split = TokenizedSplit(tokens, offsets, np.zeros(len(REVIEWS), np.uint8))
    expected = multi_hot(split, model.num_words)
    got = model.rows(REVIEWS)
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    probabilities = model.probabilities(REVIEWS)
    np.testing.assert_allclose(probabilities, model.model.predict(expected.matrix(), verbose=0).reshape(-1))
    assert model.probabilities([]).shape == (0,) and model.probabilities(["great"]).shape == (1,)


def test_an_ngram_models_rows_are_those_vectorize_makes_through_its_feature_table(
    tiny_run, trained, tmp_path
):
    """The model reads any 40 columns: a trigram table fitted on ingest's tokens makes it an n-gram model."""
    outputs = tiny_run["outputs"]
    vocabulary = len(json.loads(Path(outputs["ingest"]["word_index"]).read_text()))
    table = ngram_features.FeatureTable.fit(
        load_split(outputs["ingest"]["train_tokens"]),
        40,
        id_bound=vectorize.token_id_bound(vocabulary),
        ngrams=3,
    )
    table.save(tmp_path / "features.npz")
    model = scorer.Scorer(
        model_folder(tmp_path, trained, **{"features.npz": (tmp_path / "features.npz").read_bytes()})
    )
    assert model.features is not None and (model.features.keys >= model.features.id_bound).any()
    reviews = [*REVIEWS, "the movie was the best movie of the year", "ONE. two, ONE two!"]
    tokens, offsets = tokenizer.encode(tokenizer.split_words(reviews), model.word_rank)
    expected = multi_hot(
        TokenizedSplit(tokens, offsets, np.zeros(len(reviews), np.uint8)), model.num_words, table
    )
    got = model.rows(reviews)
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    assert len(got.indices) > 3 * len(reviews)


def test_a_file_changed_after_training_is_refused(trained, tmp_path):
    folder = tmp_path / "run" / "train"
    shutil.copytree(Path(trained["model"]).parent, folder)
    word_index = json.loads((folder / "word_index.json").read_text())
    first, second = list(word_index)[:2]
    word_index[first], word_index[second] = word_index[second], word_index[first]  # flips their columns
    (folder / "word_index.json").write_text(json.dumps(word_index))
    with pytest.raises(PipelineInputError, match=r"word_index\.json does not match the sha256 in"):
        scorer.Scorer(folder / "model.keras")


def test_a_model_outside_a_finished_folder_is_refused(trained, tmp_path):
    shutil.copyfile(trained["model"], tmp_path / "model.keras")
    shutil.copyfile(trained["word_index"], tmp_path / "word_index.json")
    with pytest.raises(PipelineInputError, match=r"has no manifest\.json"):
        scorer.Scorer(tmp_path / "model.keras")
    with pytest.raises(PipelineInputError, match="does not exist"):
        scorer.Scorer(tmp_path / "missing" / "model.keras")


def test_a_file_beside_the_model_but_not_in_its_manifest_is_refused(trained, tmp_path):
    path = model_folder(tmp_path, trained)
    ngram_features.FeatureTable(np.array([3, 4]), 10, 40).save(path.with_name("features.npz"))
    with pytest.raises(PipelineInputError, match=r"features\.npz is not listed in"):
        scorer.Scorer(path)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"good": 1, ', "Expecting"),
        (b"[1, 2]", "a JSON list, not an object"),
        (b'{"good": "1"}', "'good' has the rank '1'"),
        (b'{"good": 0}', "'good' has the rank 0"),
        (b'{"good": true}', "'good' has the rank True"),
        (b'{"\\ud800": 1}', "surrogates not allowed"),
        (b'{"caf\xe9": 1}', "can't decode"),
    ],
)
def test_a_malformed_word_index_is_refused(trained, tmp_path, content, reason):
    path = model_folder(tmp_path, trained, **{"word_index.json": content})
    with pytest.raises(PipelineInputError, match="is not a word index") as caught:
        scorer.Scorer(path)
    assert reason in str(caught.value)


def test_a_feature_table_that_is_malformed_or_not_the_models_is_refused(trained, tmp_path):
    path = model_folder(tmp_path / "a", trained, **{"features.npz": b"not an npz"})
    with pytest.raises(PipelineInputError, match="is not a feature table"):
        scorer.Scorer(path)
    other = tmp_path / "features.npz"
    ngram_features.FeatureTable(np.array([3, 4]), 10, 80).save(other)  # 80 columns; the model has 40
    path = model_folder(tmp_path / "b", trained, **{"features.npz": other.read_bytes()})
    with pytest.raises(
        PipelineInputError, match="does not belong to its model: 80 columns for a model of 40"
    ):
        scorer.Scorer(path)


def test_a_model_of_another_shape_is_refused(trained, tmp_path):
    import keras

    inputs = keras.Input(shape=(5, 40))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    model.save(tmp_path / "model.keras")
    path = model_folder(tmp_path, trained, **{"model.keras": (tmp_path / "model.keras").read_bytes()})
    with pytest.raises(PipelineInputError, match=r"maps inputs of shape \(None, 5, 40\) to \(None, 5, 1\)"):
        scorer.Scorer(path)


def test_a_file_that_is_not_a_model_is_refused(trained, tmp_path):
    path = model_folder(tmp_path, trained, **{"model.keras": b"not a model"})
    with pytest.raises(PipelineInputError, match="could not be loaded as a Keras model"):
        scorer.Scorer(path)


def test_scores_and_word_counts_come_from_one_lookup_and_match_the_word_sets(trained):
    """score_counting: the scorer's own probabilities, and a batch's statistics as the words say."""
    model = scorer.Scorer(trained["model"])
    texts = [*reviews(300), "zorblax quux", "A <br />film!", "the"]
    probabilities, lengths, oov_words = model.score_counting(texts)
    np.testing.assert_allclose(probabilities, model.probabilities(texts), rtol=1e-6)
    fast = BatchStats()
    fast.add_counts(lengths, oov_words)
    fast.add_probabilities(probabilities)

    # The same statistics from the words themselves: a word is in the model's vocabulary when it has a
    # column of its own (rank + INDEX_FROM < num_words).
    vocabulary = {
        word for word, rank in model.word_rank.items() if rank + tokenizer.INDEX_FROM < model.num_words
    }
    docs = tokenizer.split_words(texts)
    by_sets = BatchStats()
    by_sets.add_counts(
        np.array([len(doc) for doc in docs]), sum(word not in vocabulary for doc in docs for word in doc)
    )
    by_sets.add_probabilities(model.probabilities(texts))
    assert fast.summary() == by_sets.summary()
    assert 0 < fast.summary()["oov_share"] < 1
