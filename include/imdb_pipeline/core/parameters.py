"""PipelineConfig: every parameter of a run, validated, with the book's values as defaults.

Long because most of it is the schema: one entry per parameter, with the title and description
the trigger form shows; the logic is the last third.

The same JSON schema validates a trigger (the DAG turns ``PARAM_SPECS`` into Airflow ``Param``s)
and a stage (``PipelineConfig.from_params``), so a value the trigger accepts is a value the
pipeline accepts, and a bad one gets the same message in both places. Rules are written in the
keywords Airflow's trigger form applies where one exists (type, enum, minimum, maximum, maxLength),
so bad values are caught where they are typed (``final_epochs`` is a number field, left empty for
auto); ``pattern`` and ``not`` (control characters in a path, NaN) are checked at the trigger.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

from imdb_model.memory import memory_refusal
from imdb_model.spec import ModelSpec
from imdb_pipeline.core.errors import PipelineInputError

SOURCES = ("auto", "keras", "aclimdb")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "swish", "linear")
LOSSES = ("binary_crossentropy", "mse", "mae")
OPTIMIZERS = ("rmsprop", "adam", "adamw", "sgd", "adagrad", "nadam")
WEIGHTINGS = ("binary", "tfidf", "nb")
MAX_FINAL_EPOCHS = 999
MAX_PATH_LENGTH = 4096  # Linux's PATH_MAX

# Python's "$" also matches before a final newline ("a\n"); "(?!\n)" closes that, in Python and JS alike.
NO_CONTROL_CHARACTERS = r"^[^\u0000-\u001f]*$(?!\n)"
# What a param takes, in the words its schema lacks (null means auto; a pattern): its messages say this.
_MEANINGS = {
    "final_epochs": "null (or leave it out) for auto, the epoch with the lowest validation loss; or a whole "
    f"number from 1 to {MAX_FINAL_EPOCHS}",
    "data_path": f"a path of at most {MAX_PATH_LENGTH} characters, without control characters "
    "(newline, tab, NUL)",
}
# NaN passes minimum and maximum (every comparison with it is false), so it is the one number valid
# under an impossible range: "not" that range refuses NaN at the trigger, before a run is created.
_NOT_NAN = {"not": {"title": "NaN (not a number)", "type": "number", "minimum": 1, "maximum": 0}}

# name -> JSON schema of the parameter, "default" being the book's value (DLwP 3.4).
PARAM_SPECS: dict[str, dict[str, Any]] = {
    "source": {
        "default": "auto",
        "type": "string",
        "enum": list(SOURCES),
        "title": "Data source",
        "description": "keras: Keras' tokenized imdb.npz (what the book loads); aclimdb: the raw Large "
        "Movie Review Dataset. auto: taken from data_path (.npz is keras, a directory or .tar.gz is "
        "aclimdb), or the Keras download when data_path is empty.",
    },
    "data_path": {
        "default": "",
        "type": ["null", "string"],  # "null": the trigger form may be sent with the field empty
        "maxLength": MAX_PATH_LENGTH,
        "pattern": NO_CONTROL_CHARACTERS,
        "title": "Local data path",
        "description": "An imdb.npz, an aclImdb directory or an aclImdb*.tar.gz on the worker. "
        "Empty: the worker's IMDB_DATA_PATH if set, else download once into the artifact cache.",
    },
    "num_words": {
        "default": 10000,
        "type": "integer",
        "minimum": 4,
        "maximum": 1_000_000,
        "title": "Vocabulary size",
        "description": "Keep the num_words - 1 most frequent training words; indices 0-3 are reserved "
        "(the book: 10,000). Try 5,000, 50,000 with ngrams 2, or 1,000,000 with ngrams 3, weighting nb "
        "and hidden_layers 0.",
    },
    "hidden_layers": {
        "default": 2,
        "type": "integer",
        "minimum": 0,
        "maximum": 8,
        "title": "Hidden layers",
        "description": "Dense hidden layers before the sigmoid output (the book: 2; try 1 or 3). "
        "0: logistic regression on the features.",
    },
    "units": {
        "default": 16,
        "type": "integer",
        "minimum": 1,
        "maximum": 4096,
        "title": "Units per hidden layer",
        "description": "The book: 16; try 32 or 64. Wider layers take more memory and time.",
    },
    "ngrams": {
        "default": 1,
        "type": "integer",
        "enum": [1, 2, 3],
        "title": "Word n-grams",
        "description": "1: single words (the book). 2: words and word pairs (bigrams); 3: also runs of "
        "three words. The num_words features are then the most frequent of them all, by training-set "
        "document frequency.",
    },
    "weighting": {
        "default": "binary",
        "type": "string",
        "enum": list(WEIGHTINGS),
        "title": "Feature weighting",
        "description": "binary: each present feature is 1 (the book). tfidf: scaled by its inverse "
        "document frequency, rows of unit length. nb: scaled by its Naive-Bayes log-count ratio (NBSVM). "
        "Weights come from the reviews the model trains on and are saved inside the model.",
    },
    "l2": {
        "default": 0.0,
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        **_NOT_NAN,
        "title": "L2 penalty",
        "description": "L2 regularization of the first layer's weights, added to the loss (the book: 0).",
    },
    "dropout": {
        "default": 0.0,
        "type": "number",
        "minimum": 0,
        "maximum": 0.99,
        **_NOT_NAN,
        "title": "Dropout rate",
        "description": "Share of hidden units dropped after each hidden layer while training "
        "(the book: 0, none; try 0.5). With hidden_layers 0: share of the input features dropped.",
    },
    "activation": {
        "default": "relu",
        "type": "string",
        "enum": list(ACTIVATIONS),
        "title": "Hidden activation",
        "description": "Activation of the hidden layers (the book: relu; its further experiments try tanh).",
    },
    "loss": {
        "default": "binary_crossentropy",
        "type": "string",
        "enum": list(LOSSES),
        "title": "Loss",
        "description": "The book: binary_crossentropy; its further experiments try mse.",
    },
    "optimizer": {
        "default": "rmsprop",
        "type": "string",
        "enum": list(OPTIMIZERS),
        "title": "Optimizer",
        "description": "The book: rmsprop; try adam.",
    },
    "learning_rate": {
        "default": 0.001,
        "type": "number",
        "minimum": 0.000001,
        "maximum": 100,
        **_NOT_NAN,
        "title": "Learning rate",
        "description": "The optimizer's step size (the book: 0.001, rmsprop's default); try 0.0005 or 0.002.",
    },
    "batch_size": {
        "default": 512,
        "type": "integer",
        "minimum": 1,
        "maximum": 65536,
        "title": "Batch size",
        "description": "Reviews per gradient step (the book: 512); try 128 (more steps per epoch) or 2048.",
    },
    "validation_size": {
        "default": 10000,
        "type": "integer",
        "minimum": 1,
        "maximum": 1_000_000,
        "title": "Validation reviews",
        "description": "Training reviews held out to watch overfitting (the book: 10,000 of 25,000).",
    },
    "epochs": {
        "default": 20,
        "type": "integer",
        "minimum": 1,
        "maximum": 1000,
        "title": "Epochs with validation",
        "description": "Epochs of the fit that watches validation loss (the book: 20, where it overfits "
        "after about 4); try 10 for a quicker run.",
    },
    "final_epochs": {
        # null is "not given": the form shows an empty number field, which it may send.
        "default": None,
        "type": ["null", "integer"],
        "minimum": 1,
        "maximum": MAX_FINAL_EPOCHS,
        "title": "Epochs of the final fit",
        "description": "The fit on all training reviews. Empty: auto, the epoch with the lowest validation "
        "loss; or a number of epochs (the book: 4).",
    },
    "seed": {
        "default": 1,
        "type": "integer",
        "minimum": 0,
        "maximum": 2**31 - 1,
        "title": "Random seed",
        "description": "Seeds the shuffle that picks the validation reviews, the initial weights, the batch "
        "order and dropout, so a rerun gives the same figures (the book sets none; ours: 1). "
        "Try others to see the run-to-run spread.",
    },
    "min_accuracy": {
        "default": 0.85,
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        **_NOT_NAN,
        "title": "Gate: minimum test accuracy",
        "description": "The model is blessed (may become the champion) only at this test accuracy or above.",
    },
    "max_regression": {
        "default": 0.01,
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        **_NOT_NAN,
        "title": "Gate: largest drop from the champion",
        "description": "A model trained on other data than the champion's (new data) may replace it when "
        "its test accuracy is at most this much below (0.01 = one point). On the same data a model must "
        "be better to replace the champion.",
    },
    "force_promote": {
        "default": False,
        "type": "boolean",
        "title": "Gate: replace the champion even if not better",
        "description": "Bless the model when it reaches min_accuracy, whatever the champion's accuracy "
        "(e.g. after a change you want in production). The decision records that it was asked for.",
    },
}

# Parameters of the gate only: a sweep has no gate, so its DAG does not offer them.
GATE_PARAMS = ("min_accuracy", "max_regression", "force_promote")

_DATA_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar")
# A worker-wide default for data_path: where a deployment keeps its local copy of the data.
DATA_PATH_ENV = "IMDB_DATA_PATH"
_FORM_KEYS = ("default", "title", "description", "examples")


def schema_of(name: str) -> dict[str, Any]:
    """The JSON schema that validates parameter ``name``: its spec without what only the form shows."""
    return {key: value for key, value in PARAM_SPECS[name].items() if key not in _FORM_KEYS}


# One validator per parameter, made once: the same JSON Schema draft Airflow's Param validates with.
_VALIDATORS = {
    name: jsonschema.validators.validator_for(schema_of(name))(schema_of(name)) for name in PARAM_SPECS
}


def infer_source(data_path: str) -> str:
    """The source a local path holds: an .npz is Keras' file, a directory or tarball is aclImdb."""
    if not data_path:
        return "keras"
    lowered = data_path.lower()
    if lowered.endswith(".npz"):
        return "keras"
    if lowered.endswith(_DATA_SUFFIXES) or Path(data_path).is_dir():
        return "aclimdb"
    raise PipelineInputError(
        f"data_path {data_path!r} is neither an .npz, an aclImdb directory nor a tarball "
        f"({', '.join(_DATA_SUFFIXES)}): "
        "point data_path at one of those, or set source explicitly."
    )


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """One run's parameters, validated and in one normal form: integers as ``int``, numbers as
    ``float``, ``final_epochs`` an ``int`` or None (auto), ``data_path`` a string ("" when not given)."""

    source: str = PARAM_SPECS["source"]["default"]
    data_path: str = PARAM_SPECS["data_path"]["default"]
    num_words: int = PARAM_SPECS["num_words"]["default"]
    hidden_layers: int = PARAM_SPECS["hidden_layers"]["default"]
    units: int = PARAM_SPECS["units"]["default"]
    ngrams: int = PARAM_SPECS["ngrams"]["default"]
    weighting: str = PARAM_SPECS["weighting"]["default"]
    l2: float = PARAM_SPECS["l2"]["default"]
    dropout: float = PARAM_SPECS["dropout"]["default"]
    activation: str = PARAM_SPECS["activation"]["default"]
    loss: str = PARAM_SPECS["loss"]["default"]
    optimizer: str = PARAM_SPECS["optimizer"]["default"]
    learning_rate: float = PARAM_SPECS["learning_rate"]["default"]
    batch_size: int = PARAM_SPECS["batch_size"]["default"]
    validation_size: int = PARAM_SPECS["validation_size"]["default"]
    epochs: int = PARAM_SPECS["epochs"]["default"]
    final_epochs: int | None = PARAM_SPECS["final_epochs"]["default"]
    seed: int = PARAM_SPECS["seed"]["default"]
    min_accuracy: float = PARAM_SPECS["min_accuracy"]["default"]
    max_regression: float = PARAM_SPECS["max_regression"]["default"]
    force_promote: bool = PARAM_SPECS["force_promote"]["default"]

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            _check_value(field.name, value)
            object.__setattr__(self, field.name, _normal_form(field.name, value))
        self._check_combination()

    def _check_combination(self) -> None:
        """Rules between parameters, each value being valid on its own: what can be known before the
        data (validation_size against the data is train's), including whether the model fits the
        worker's memory (the plugin's TensorFlow-free estimate), so a run too big fails at its first
        task, with the figure, not killed mid-epoch. (dropout with hidden_layers=0 drops input features.)"""
        try:
            spec = ModelSpec.from_mapping(dataclasses.asdict(self))
            refusal = memory_refusal(spec, self.batch_size, ngrams=self.ngrams)
        except ValueError as err:  # IMDB_WORKER_MEMORY_MB is not a number
            raise PipelineInputError(str(err)) from None
        if refusal:
            raise PipelineInputError(f"parameters too big for the worker: {refusal}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None = None) -> PipelineConfig:
        """Validate a params mapping (a DAG run's params, a test's dict); unset keys take defaults."""
        values = dict(params or {})
        unknown = sorted(set(values) - set(PARAM_SPECS))
        if unknown:
            raise PipelineInputError(
                f"unknown parameter(s) {', '.join(unknown)}: the pipeline takes "
                f"{', '.join(PARAM_SPECS)}. Check the spelling in the trigger conf."
            )
        return cls(**values)

    def data_location(self) -> tuple[str, str]:
        """(source, local path) of the data: ``data_path``, else the worker's ``IMDB_DATA_PATH``
        (a deployment's local copy), else "" (download); ``auto`` resolved from that path."""
        path = self.data_path or os.environ.get(DATA_PATH_ENV, "")
        return (infer_source(path) if self.source == "auto" else self.source), path

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_value(name: str, value: Any) -> None:
    """Raise PipelineInputError naming the parameter, its value and what is allowed."""
    validator = _VALIDATORS[name]
    allowed = f"Use {describe(name)} (default {json.dumps(PARAM_SPECS[name]['default'])})."
    if isinstance(value, float) and not math.isfinite(value):
        raise PipelineInputError(f"parameter {name}={value!r} is not a finite number. {allowed}")
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return
    if error.validator in ("pattern", "enum"):
        why = ""  # the regex or the list says less than ``allowed``
    elif error.validator == "maxLength":
        why = f": {len(value)} characters"
    else:
        why = f": {shorten(error.message)}"
    raise PipelineInputError(f"parameter {name}={shorten(repr(value))} is invalid{why}. {allowed}")


def _normal_form(name: str, value: Any) -> Any:
    """One spelling per value, whichever way JSON gave it (each value already valid)."""
    if name == "final_epochs":
        return None if value is None else int(value)  # 4 and 4.0 alike; None: auto
    if value is None:  # data_path: the trigger form sends null for an empty field
        return ""
    kind = PARAM_SPECS[name]["type"]
    if kind == "integer" and isinstance(value, float):  # 3.0 is an integer to JSON Schema
        return int(value)
    if kind == "number" and isinstance(value, int):  # JSON's 10 for a number: Keras wants 10.0
        return float(value)
    return value


def describe(name: str) -> str:
    """What parameter ``name`` accepts, in words (for messages)."""
    schema = schema_of(name)
    if name in _MEANINGS:
        return _MEANINGS[name]
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    if schema["type"] == "boolean":
        return "true or false"
    kind = "an integer" if schema["type"] == "integer" else "a number"
    return f"{kind} from {schema['minimum']} to {schema['maximum']}"


def shorten(text: str, limit: int = 100) -> str:
    """A value fit for a message: a hostile 4 MB string is not repeated into the log."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
