"""PipelineConfig: the book's defaults, one normal form per value, one clear message per bad parameter,
and the same verdict as the trigger's validation (Airflow's Param) on the same schema."""

import json
import math

import pytest

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.core.parameters import PARAM_SPECS, PipelineConfig, infer_source, schema_of

NUMBER_PARAMS = [name for name, spec in PARAM_SPECS.items() if spec["type"] == "number"]
INTEGER_PARAMS = [name for name, spec in PARAM_SPECS.items() if spec["type"] == "integer"]
# What Airflow 3.3's trigger form applies while a value is typed (read from its UI bundle); "not",
# "pattern" and the rest are checked by the server when the run is triggered.
FORM_KEYWORDS = {
    "type",
    "enum",
    "minimum",
    "maximum",
    "maxLength",
    "examples",
    "title",
    "description",
}
SERVER_ONLY_KEYWORDS = {"pattern", "not"}


def test_defaults_are_the_books_values():
    config = PipelineConfig.from_params({})
    assert (config.num_words, config.hidden_layers, config.units, config.activation) == (10000, 2, 16, "relu")
    assert (config.loss, config.optimizer, config.learning_rate) == ("binary_crossentropy", "rmsprop", 0.001)
    assert (config.batch_size, config.validation_size, config.epochs, config.final_epochs) == (
        512,
        10000,
        20,
        None,  # auto: the epoch with the lowest validation loss
    )
    assert (config.ngrams, config.dropout) == (1, 0.0)  # the book: single words, no dropout


def test_the_config_has_exactly_the_schemas_parameters_with_its_defaults():
    assert PipelineConfig().to_dict() == {name: spec["default"] for name, spec in PARAM_SPECS.items()}


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"num_words": 3}, ["num_words=3", "from 4 to"]),
        ({"activation": "softmax"}, ["activation='softmax'", "relu", "tanh"]),
        ({"loss": "hinge"}, ["loss='hinge'", "binary_crossentropy"]),
        ({"optimizer": "lbfgs"}, ["optimizer='lbfgs'", "rmsprop"]),
        ({"learning_rate": 0}, ["learning_rate=0", "minimum"]),
        ({"final_epochs": "auto"}, ["final_epochs='auto'", "null (or leave it out) for auto"]),
        ({"final_epochs": 0}, ["final_epochs=0", "minimum", "a whole number from 1 to 999"]),
        ({"final_epochs": 1000}, ["final_epochs=1000", "maximum of 999"]),
        ({"final_epochs": "4"}, ["final_epochs='4'", "is not of type 'null', 'integer'"]),
        ({"final_epochs": 4.5}, ["final_epochs=4.5", "a whole number from 1 to 999"]),
        ({"final_epochs": True}, ["final_epochs=True"]),
        ({"epochs": True}, ["epochs=True", "integer"]),
        ({"epochs": 3.5}, ["epochs=3.5", "integer"]),
        ({"source": "hub"}, ["source='hub'", "aclimdb"]),
        ({"num_word": 5000}, ["unknown parameter", "num_word", "num_words"]),
        ({"ngrams": 4}, ["ngrams=4", "one of 1, 2, 3"]),
        ({"weighting": "bm25"}, ["weighting='bm25'", "binary, tfidf, nb"]),
        ({"l2": -1}, ["l2=-1", "from 0 to 1"]),
        ({"dropout": 1}, ["dropout=1", "from 0 to 0.99"]),
        ({"dropout": -0.1}, ["dropout=-0.1", "from 0 to"]),
        ({"min_accuracy": "high"}, ["min_accuracy='high'", "a number"]),
        ({"data_path": 5}, ["data_path=5", "path"]),
        ({"validation_size": 10**30}, ["validation_size=", "maximum"]),
    ],
)
def test_bad_values_are_refused_with_a_message_naming_them(params, words):
    with pytest.raises(PipelineInputError) as caught:
        PipelineConfig.from_params(params)
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize("given", [4, 4.0])
def test_final_epochs_as_a_number_is_stored_as_an_int_whether_json_wrote_4_or_4_0(given):
    config = PipelineConfig.from_params({"final_epochs": given})
    assert config.final_epochs == 4 and type(config.final_epochs) is int


def test_final_epochs_not_given_leaves_the_choice_to_validation():
    assert PipelineConfig.from_params({"final_epochs": None}).final_epochs is None
    assert PipelineConfig.from_params({}).final_epochs is None


@pytest.mark.parametrize("name", INTEGER_PARAMS)
def test_whole_number_floats_for_integer_params_become_ints(name):
    value = PARAM_SPECS[name]["default"]
    config = PipelineConfig.from_params({name: float(value)})
    assert getattr(config, name) == value and type(getattr(config, name)) is int


def test_whole_numbers_given_for_number_params_become_floats():
    config = PipelineConfig.from_params({"learning_rate": 10, "dropout": 0, "min_accuracy": 1})
    assert (config.learning_rate, config.dropout, config.min_accuracy) == (10.0, 0.0, 1.0)
    assert all(type(value) is float for value in (config.learning_rate, config.dropout, config.min_accuracy))


def test_a_config_built_directly_is_validated_and_normalized_too():
    assert PipelineConfig(epochs=3.0, final_epochs=4.0).to_dict() == {
        **PipelineConfig().to_dict(),
        "epochs": 3,
        "final_epochs": 4,
    }
    with pytest.raises(PipelineInputError, match="epochs=0"):
        PipelineConfig(epochs=0)


def test_the_normal_form_survives_json_and_validates_again():
    config = PipelineConfig.from_params({"final_epochs": 4.0, "epochs": 3.0, "dropout": 0, "data_path": None})
    assert PipelineConfig.from_params(json.loads(json.dumps(config.to_dict()))) == config


@pytest.mark.parametrize("name", NUMBER_PARAMS + INTEGER_PARAMS + ["final_epochs"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused_for_every_numeric_param(name, value):
    with pytest.raises(PipelineInputError, match=f"parameter {name}="):
        PipelineConfig.from_params({name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [("data_path", "/data/a.tar.gz\n")],
)
def test_a_trailing_newline_does_not_slip_through_a_pattern(name, value):
    with pytest.raises(PipelineInputError, match=f"parameter {name}="):
        PipelineConfig.from_params({name: value})


def test_data_path_may_be_null_as_an_empty_form_field_sends_it():
    assert PipelineConfig.from_params({"data_path": None}).data_path == ""


def test_data_path_is_bounded_and_a_long_value_is_not_repeated_into_the_message():
    assert PipelineConfig.from_params({"data_path": "/" + "d" * 4095}).data_path
    with pytest.raises(PipelineInputError) as caught:
        PipelineConfig.from_params({"data_path": "/" + "d" * 100_000})
    assert "100001 characters" in str(caught.value) and len(str(caught.value)) < 400
    with pytest.raises(PipelineInputError, match="control characters"):
        PipelineConfig.from_params({"data_path": "/data/a\x00.tar.gz"})


def test_dropout_without_a_hidden_layer_drops_input_features():
    config = PipelineConfig.from_params({"hidden_layers": 0, "dropout": 0.5})
    assert (config.hidden_layers, config.dropout) == (0, 0.5)


def test_trigrams_weightings_and_l2_are_parameters_with_the_books_defaults():
    config = PipelineConfig()
    assert (config.weighting, config.l2) == ("binary", 0.0)
    params = {"ngrams": 3, "weighting": "nb", "l2": 1e-6, "num_words": 1_000_000, "hidden_layers": 0}
    config = PipelineConfig.from_params(params)
    assert (config.ngrams, config.weighting, config.l2, config.num_words) == (3, "nb", 1e-6, 1_000_000)
    assert PipelineConfig.from_params({"hidden_layers": 0}).hidden_layers == 0


def test_every_param_says_in_the_form_what_it_is_and_is_sendable_with_its_default():
    for name, spec in PARAM_SPECS.items():
        assert spec.get("title") and len(spec.get("description", "")) > 20, name
        assert set(spec) - {"default"} <= FORM_KEYWORDS | SERVER_ONLY_KEYWORDS, name
        # Airflow's form marks a param required unless its type admits null: only such a param
        # may default to null (the form then sends it empty).
        assert spec["default"] is not None or "null" in spec["type"], name
    assert "null" in PARAM_SPECS["data_path"]["type"]  # the form may be sent with it empty


def test_number_bounds_are_ones_the_trigger_form_applies():
    for name in NUMBER_PARAMS + INTEGER_PARAMS:
        schema = schema_of(name)
        assert "enum" in schema or {"minimum", "maximum"} <= set(schema), name


# (param, value, accepted): the trigger (Airflow's Param) and the pipeline must agree on each.
VERDICTS = [
    ("final_epochs", 4, True),
    ("final_epochs", 4.0, True),
    ("final_epochs", "4", False),  # a number is given as a number: the form sends one
    ("final_epochs", "auto", False),  # auto is null: an empty field
    ("final_epochs", 999, True),
    ("final_epochs", "four", False),
    ("final_epochs", "auto\n", False),
    ("final_epochs", 0, False),
    ("final_epochs", "0", False),
    ("final_epochs", 1000, False),
    ("final_epochs", None, True),
    ("dropout", 0.5, True),
    ("dropout", 1.5, False),
    ("dropout", math.nan, False),
    ("learning_rate", math.nan, False),
    ("min_accuracy", math.nan, False),
    ("learning_rate", 0, False),
    ("num_words", 2, False),
    ("epochs", 3.0, True),
    ("epochs", "3", False),
    ("data_path", None, True),
    ("data_path", "", True),
    ("data_path", "x" * 4097, False),
    ("data_path", "/a\n", False),
]


@pytest.mark.parametrize(("name", "value", "accepted"), VERDICTS)
def test_the_trigger_and_the_pipeline_give_the_same_verdict(name, value, accepted):
    from airflow.sdk import Param
    from airflow.sdk.exceptions import ParamValidationError

    spec = PARAM_SPECS[name]
    param = Param(spec["default"], **{key: item for key, item in spec.items() if key != "default"})
    param.resolve()  # the default is valid at the trigger
    if accepted:
        param.resolve(value)
        PipelineConfig.from_params({name: value})
    else:
        with pytest.raises(ParamValidationError):
            param.resolve(value)
        with pytest.raises(PipelineInputError, match=f"parameter {name}="):
            PipelineConfig.from_params({name: value})


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
    with pytest.raises(PipelineInputError, match=r"neither an \.npz"):
        infer_source("/data/reviews.csv")


def test_workers_imdb_data_path_stands_in_for_an_empty_data_path(monkeypatch):
    monkeypatch.setenv("IMDB_DATA_PATH", "/srv/data/aclImdb_v1.tar.gz")
    assert PipelineConfig.from_params({}).data_location() == ("aclimdb", "/srv/data/aclImdb_v1.tar.gz")
    assert PipelineConfig.from_params({"data_path": None}).data_location()[1] == "/srv/data/aclImdb_v1.tar.gz"
    assert PipelineConfig.from_params({"data_path": "/x/imdb.npz"}).data_location() == (
        "keras",
        "/x/imdb.npz",
    )
    monkeypatch.delenv("IMDB_DATA_PATH")
    assert PipelineConfig.from_params({}).data_location() == ("keras", "")


def test_a_model_too_big_for_the_worker_is_refused_before_any_work_naming_the_figure(monkeypatch):
    monkeypatch.delenv("IMDB_WORKER_MEMORY_MB", raising=False)
    with pytest.raises(
        PipelineInputError, match=r"needs about 4,[0-9]{3} MB .* worker limit of 1,000 MB.*IMDB_WORKER"
    ):
        PipelineConfig.from_params({"units": 4096})
    monkeypatch.setenv("IMDB_WORKER_MEMORY_MB", "5000")  # a deployment with bigger workers
    assert PipelineConfig.from_params({"units": 4096}).units == 4096
    monkeypatch.setenv("IMDB_WORKER_MEMORY_MB", "lots")
    with pytest.raises(PipelineInputError, match="IMDB_WORKER_MEMORY_MB='lots' is not a whole number"):
        PipelineConfig.from_params({})
