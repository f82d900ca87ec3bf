"""PipelineConfig: every parameter of a run, validated, with the book's values as defaults.

The same JSON schema validates a trigger (the DAG turns ``PARAM_SPECS`` into Airflow ``Param``s)
and a stage (``PipelineConfig.from_params``), so a value the trigger form accepts is a value the
pipeline accepts, and a bad one gets the same message in both places.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

from imdb_pipeline.errors import PipelineInputError

SOURCES = ("auto", "keras", "aclimdb")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "swish", "linear")
LOSSES = ("binary_crossentropy", "mse", "mae")
OPTIMIZERS = ("rmsprop", "adam", "adamw", "sgd", "adagrad", "nadam")

# name -> JSON schema of the parameter, "default" being the book's value (DLwP 3.4).
PARAM_SPECS: dict[str, dict[str, Any]] = {
    "source": {
        "default": "auto",
        "type": "string",
        "enum": list(SOURCES),
        "title": "Data source",
        "description": "keras: Keras' tokenized imdb.npz; aclimdb: the raw Large Movie Review Dataset. "
        "auto: taken from data_path (.npz is keras, a directory or .tar.gz is aclimdb), "
        "or the Keras download when data_path is empty.",
    },
    "data_path": {
        "default": "",
        "type": "string",
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
        "description": "Keep the num_words - 1 most frequent training words (indices 0-3 are reserved).",
    },
    "hidden_layers": {
        "default": 2,
        "type": "integer",
        "minimum": 0,
        "maximum": 8,
        "title": "Hidden layers",
        "description": "Dense hidden layers before the sigmoid output (the book: 2; try 1 or 3).",
    },
    "units": {
        "default": 16,
        "type": "integer",
        "minimum": 1,
        "maximum": 4096,
        "title": "Units per hidden layer",
        "description": "The book: 16; try 32 or 64.",
    },
    "ngrams": {
        "default": 1,
        "type": "integer",
        "enum": [1, 2],
        "title": "Word n-grams",
        "description": "1: single words (the book). 2: words and word pairs (bigrams); the num_words "
        "features are then the most frequent of both, by training-set document frequency.",
    },
    "dropout": {
        "default": 0.0,
        "type": "number",
        "minimum": 0,
        "exclusiveMaximum": 1,
        "title": "Dropout rate",
        "description": "Dropout after each hidden layer while training (0: none, the book; try 0.5).",
    },
    "activation": {
        "default": "relu",
        "type": "string",
        "enum": list(ACTIVATIONS),
        "title": "Hidden activation",
    },
    "loss": {"default": "binary_crossentropy", "type": "string", "enum": list(LOSSES), "title": "Loss"},
    "optimizer": {"default": "rmsprop", "type": "string", "enum": list(OPTIMIZERS), "title": "Optimizer"},
    "learning_rate": {
        "default": 0.001,
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 100,
        "title": "Learning rate",
    },
    "batch_size": {"default": 512, "type": "integer", "minimum": 1, "maximum": 65536, "title": "Batch size"},
    "validation_size": {
        "default": 10000,
        "type": "integer",
        "minimum": 1,
        "title": "Validation reviews",
        "description": "Training reviews held out to watch overfitting (the book: 10,000 of 25,000).",
    },
    "epochs": {
        "default": 20,
        "type": "integer",
        "minimum": 1,
        "maximum": 1000,
        "title": "Epochs with validation",
    },
    "final_epochs": {
        "default": "auto",
        "type": "string",
        "pattern": "^(auto|[1-9][0-9]{0,2})$",
        "title": "Epochs of the final fit",
        "description": "auto: the epoch with the lowest validation loss; or a number (the book: 4).",
    },
    "seed": {"default": 1, "type": "integer", "minimum": 0, "maximum": 2**31 - 1, "title": "Random seed"},
    "min_accuracy": {
        "default": 0.85,
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "title": "Gate: minimum test accuracy",
        "description": "The model is blessed (may become the champion) only at this test accuracy or above.",
    },
    "max_regression": {
        "default": 0.01,
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "title": "Gate: largest drop from the champion",
        "description": "Not blessed when its test accuracy is more than this below the current champion's "
        "(0.01 = one percentage point; no check while there is no champion).",
    },
}

# Parameters of the gate only: a sweep has no gate, so its DAG does not offer them.
GATE_PARAMS = ("min_accuracy", "max_regression")

_DATA_SUFFIXES = (".tar.gz", ".tgz", ".tar")
# A worker-wide default for data_path: where a deployment keeps its local copy of the data.
DATA_PATH_ENV = "IMDB_DATA_PATH"


def _schema_without_ui_keys(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in ("default", "title", "description")}


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
        f"data_path {data_path!r} is neither an .npz, an aclImdb directory nor a .tar.gz: "
        "point data_path at one of those, or set source explicitly."
    )


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """One run's parameters. Build it with ``from_params`` so every value is validated."""

    source: str = PARAM_SPECS["source"]["default"]
    data_path: str = PARAM_SPECS["data_path"]["default"]
    num_words: int = PARAM_SPECS["num_words"]["default"]
    hidden_layers: int = PARAM_SPECS["hidden_layers"]["default"]
    units: int = PARAM_SPECS["units"]["default"]
    ngrams: int = PARAM_SPECS["ngrams"]["default"]
    dropout: float = PARAM_SPECS["dropout"]["default"]
    activation: str = PARAM_SPECS["activation"]["default"]
    loss: str = PARAM_SPECS["loss"]["default"]
    optimizer: str = PARAM_SPECS["optimizer"]["default"]
    learning_rate: float = PARAM_SPECS["learning_rate"]["default"]
    batch_size: int = PARAM_SPECS["batch_size"]["default"]
    validation_size: int = PARAM_SPECS["validation_size"]["default"]
    epochs: int = PARAM_SPECS["epochs"]["default"]
    final_epochs: str = PARAM_SPECS["final_epochs"]["default"]
    seed: int = PARAM_SPECS["seed"]["default"]
    min_accuracy: float = PARAM_SPECS["min_accuracy"]["default"]
    max_regression: float = PARAM_SPECS["max_regression"]["default"]

    def __post_init__(self) -> None:
        validate_params(dataclasses.asdict(self))

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
        if isinstance(values.get("final_epochs"), int) and not isinstance(values["final_epochs"], bool):
            values["final_epochs"] = str(values["final_epochs"])
        for name, value in values.items():  # JSON's 10 for a number param: Keras wants 10.0
            if PARAM_SPECS[name]["type"] == "number" and type(value) is int:
                values[name] = float(value)
        return cls(**values)

    def data_location(self) -> tuple[str, str]:
        """(source, local path) of the data: ``data_path``, else the worker's ``IMDB_DATA_PATH``
        (a deployment's local copy), else "" (download); ``auto`` resolved from that path."""
        path = self.data_path or os.environ.get(DATA_PATH_ENV, "")
        return (infer_source(path) if self.source == "auto" else self.source), path

    @property
    def fixed_final_epochs(self) -> int | None:
        """The final fit's epoch count when given as a number; None for ``auto``."""
        return None if self.final_epochs == "auto" else int(self.final_epochs)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def validate_params(values: Mapping[str, Any]) -> None:
    """Raise PipelineInputError naming the first bad parameter, its value and what is allowed."""
    for name, spec in PARAM_SPECS.items():
        if name not in values:
            continue
        value = values[name]
        schema = _schema_without_ui_keys(spec)
        if isinstance(value, bool) and schema.get("type") in ("integer", "number"):
            raise PipelineInputError(f"parameter {name}={value!r} must be a {schema['type']}, not a boolean.")
        try:
            jsonschema.validate(value, schema)
        except jsonschema.ValidationError as err:
            allowed = _describe(schema)
            raise PipelineInputError(
                f"parameter {name}={value!r} is invalid: {err.message}. Use {allowed} "
                f"(default {spec['default']!r})."
            ) from None


def _describe(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    if "pattern" in schema:
        return f"a value matching {schema['pattern']}"
    kind = "an integer" if schema.get("type") == "integer" else f"a {schema.get('type')}"
    bounds = []
    if "minimum" in schema:
        bounds.append(f">= {schema['minimum']}")
    if "exclusiveMinimum" in schema:
        bounds.append(f"> {schema['exclusiveMinimum']}")
    if "maximum" in schema:
        bounds.append(f"<= {schema['maximum']}")
    if "exclusiveMaximum" in schema:
        bounds.append(f"< {schema['exclusiveMaximum']}")
    return f"{kind} {' and '.join(bounds)}".strip()


# --- The "further experiments" sweep (DAG imdb_experiments) -------------------------------------

# What a sweep's trial may change. The data and the validation split (validation_size, seed) stay
# those of the sweep, so every trial is judged on the same validation reviews.
TRIAL_PARAMS = (
    "num_words",
    "ngrams",
    "hidden_layers",
    "units",
    "dropout",
    "activation",
    "loss",
    "optimizer",
    "learning_rate",
    "batch_size",
    "epochs",
    "final_epochs",
)
MAX_TRIALS = 32

# The book's further experiments (DLwP 3.4.5), one factor at a time from its model, and the
# uni+bigram model with dropout that goes beyond the book's accuracy.
BOOK_GRID: list[dict[str, Any]] = [
    {"name": "book: 2 x 16 relu"},
    {"name": "1 hidden layer", "hidden_layers": 1},
    {"name": "3 hidden layers", "hidden_layers": 3},
    {"name": "32 units", "units": 32},
    {"name": "64 units", "units": 64},
    {"name": "mse loss", "loss": "mse"},
    {"name": "tanh", "activation": "tanh"},
    {"name": "bigrams 50k + dropout 0.5", "ngrams": 2, "num_words": 50000, "dropout": 0.5},
]

SWEEP_PARAM_SPECS: dict[str, dict[str, Any]] = {
    **{name: spec for name, spec in PARAM_SPECS.items() if name not in GATE_PARAMS},
    "grid": {
        "default": BOOK_GRID,
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_TRIALS,
        "items": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 80},
                **{name: _schema_without_ui_keys(PARAM_SPECS[name]) for name in TRIAL_PARAMS},
            },
            "additionalProperties": False,
        },
        "title": "Configurations to compare",
        "description": "One object per trial: a name and the parameters it changes from the ones above "
        f"({', '.join(TRIAL_PARAMS)}). Default: the book's further experiments plus bigrams with dropout.",
    },
}


@dataclasses.dataclass(frozen=True)
class Trial:
    """One configuration of a sweep: its position, name and full, validated parameters."""

    index: int
    name: str
    params: dict[str, Any]

    @property
    def features(self) -> str:
        """The vectorized data it trains on: trials with equal num_words and ngrams share it."""
        return f"w{self.params['num_words']}-n{self.params['ngrams']}"

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "params": self.params, "features": self.features}


def plan_trials(params: Mapping[str, Any]) -> list[Trial]:
    """The sweep's trials from its params (``grid`` + the shared parameters), each validated."""
    values = dict(params)
    grid = values.pop("grid", BOOK_GRID)
    unknown = sorted(set(values) - set(SWEEP_PARAM_SPECS))
    if unknown:
        raise PipelineInputError(
            f"unknown sweep parameter(s) {', '.join(unknown)}: the sweep takes {', '.join(SWEEP_PARAM_SPECS)}."
        )
    try:
        jsonschema.validate(grid, _schema_without_ui_keys(SWEEP_PARAM_SPECS["grid"]))
    except jsonschema.ValidationError as err:
        where = "".join(f"[{part!r}]" for part in err.absolute_path)
        raise PipelineInputError(
            f"parameter grid{where} is invalid: {err.message}. Give 1 to {MAX_TRIALS} objects, each with an optional "
            f"name and only these keys: {', '.join(TRIAL_PARAMS)}."
        ) from None
    trials, names = [], set()
    for index, entry in enumerate(grid):
        overrides = {key: value for key, value in entry.items() if key != "name"}
        name = entry.get("name") or ", ".join(f"{key}={value}" for key, value in overrides.items()) or "base"
        if name in names:
            raise PipelineInputError(f"grid has two trials named {name!r}: give each a distinct name.")
        names.add(name)
        try:
            config = PipelineConfig.from_params({**values, **overrides})
        except PipelineInputError as err:
            raise PipelineInputError(f"grid trial {index} ({name}): {err}") from None
        trials.append(Trial(index, name, config.to_dict()))
    return trials
