"""PipelineConfig: the book's defaults, and one clear message per bad parameter."""

import pytest

from imdb_pipeline.config import PARAM_SPECS, PipelineConfig, infer_source
from imdb_pipeline.errors import PipelineInputError


def test_defaults_are_the_books_values():
    config = PipelineConfig.from_params({})
    assert (config.num_words, config.hidden_layers, config.units, config.activation) == (10000, 2, 16, "relu")
    assert (config.loss, config.optimizer, config.learning_rate) == ("binary_crossentropy", "rmsprop", 0.001)
    assert (config.batch_size, config.validation_size, config.epochs, config.final_epochs) == (
        512,
        10000,
        20,
        "auto",
    )
    assert (config.ngrams, config.dropout) == (1, 0.0)  # the book: single words, no dropout


def test_every_param_spec_default_is_valid():
    PipelineConfig.from_params({name: spec["default"] for name, spec in PARAM_SPECS.items()})


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"num_words": 3}, ["num_words=3", ">= 4"]),
        ({"activation": "softmax"}, ["activation='softmax'", "relu", "tanh"]),
        ({"loss": "hinge"}, ["loss='hinge'", "binary_crossentropy"]),
        ({"optimizer": "lbfgs"}, ["optimizer='lbfgs'", "rmsprop"]),
        ({"learning_rate": 0}, ["learning_rate=0", "> 0"]),
        ({"final_epochs": "best"}, ["final_epochs='best'", "auto"]),
        ({"epochs": True}, ["epochs=True", "integer"]),
        ({"source": "hub"}, ["source='hub'", "aclimdb"]),
        ({"num_word": 5000}, ["unknown parameter", "num_word", "num_words"]),
        ({"ngrams": 3}, ["ngrams=3", "one of 1, 2"]),
        ({"dropout": 1}, ["dropout=1", "< 1"]),
        ({"dropout": -0.1}, ["dropout=-0.1", ">= 0"]),
        ({"min_accuracy": "high"}, ["min_accuracy='high'"]),
    ],
)
def test_bad_values_are_refused_with_a_message_naming_them(params, words):
    with pytest.raises(PipelineInputError) as caught:
        PipelineConfig.from_params(params)
    for word in words:
        assert word in str(caught.value)


def test_final_epochs_accepts_a_number_given_as_int_or_text():
    assert PipelineConfig.from_params({"final_epochs": 4}).fixed_final_epochs == 4
    assert PipelineConfig.from_params({"final_epochs": "4"}).fixed_final_epochs == 4
    assert PipelineConfig.from_params({}).fixed_final_epochs is None


def test_source_is_inferred_from_the_data_path(tmp_path):
    assert infer_source("") == "keras"
    assert infer_source("/data/imdb.npz") == "keras"
    assert infer_source("/data/aclImdb_v1.tar.gz") == "aclimdb"
    assert infer_source(str(tmp_path)) == "aclimdb"
    assert PipelineConfig.from_params({"data_path": "/x/aclImdb_v1.tar.gz"}).data_location() == (
        "aclimdb",
        "/x/aclImdb_v1.tar.gz",
    )
    assert (
        PipelineConfig.from_params({"source": "keras", "data_path": "/x/a.tar.gz"}).data_location()[0]
        == "keras"
    )
    with pytest.raises(PipelineInputError, match="neither an .npz"):
        infer_source("/data/reviews.csv")


def test_workers_imdb_data_path_stands_in_for_an_empty_data_path(monkeypatch):
    monkeypatch.setenv("IMDB_DATA_PATH", "/srv/data/aclImdb_v1.tar.gz")
    assert PipelineConfig.from_params({}).data_location() == ("aclimdb", "/srv/data/aclImdb_v1.tar.gz")
    assert PipelineConfig.from_params({"data_path": "/x/imdb.npz"}).data_location() == (
        "keras",
        "/x/imdb.npz",
    )
    monkeypatch.delenv("IMDB_DATA_PATH")
    assert PipelineConfig.from_params({}).data_location() == ("keras", "")


def test_whole_numbers_given_for_number_params_become_floats():
    config = PipelineConfig.from_params({"learning_rate": 10, "dropout": 0, "min_accuracy": 1})
    assert (config.learning_rate, config.dropout, config.min_accuracy) == (10.0, 0.0, 1.0)
    assert all(type(value) is float for value in (config.learning_rate, config.dropout, config.min_accuracy))
