"""The sweep's trial planning: which configurations the "further experiments" DAG compares.

A sweep run's params are the pipeline's (without the gate's) plus ``grid``: one object per trial
with the parameters it changes. ``plan_trials`` turns them into validated ``Trial``s before any
training starts, so a bad grid entry fails the plan, not the sixth training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jsonschema

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.core.parameters import (
    GATE_PARAMS,
    PARAM_SPECS,
    PipelineConfig,
    describe,
    schema_of,
    shorten,
)

# What a sweep's trial may change. The data and the validation split (validation_size, seed) stay
# those of the sweep, so every trial is judged on the same validation reviews.
TRIAL_PARAMS = (
    "num_words",
    "ngrams",
    "weighting",
    "l2",
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

# Logistic regression (no hidden layer) on the 1,000,000 most frequent words, bigrams and trigrams.
_LINEAR_TRIGRAMS = {
    "ngrams": 3,
    "num_words": 1_000_000,
    "hidden_layers": 0,
    "optimizer": "adam",
    "learning_rate": 0.003,
    "epochs": 10,
}

# The book's further experiments (DLwP 3.4.5), one factor at a time from its model; the uni+bigram
# model with dropout that goes beyond the book's accuracy; and linear models on weighted n-grams, the
# NBSVM family (Wang & Manning 2012), which go beyond that.
BOOK_GRID: list[dict[str, Any]] = [
    {"name": "book: 2 x 16 relu"},
    {"name": "1 hidden layer", "hidden_layers": 1},
    {"name": "3 hidden layers", "hidden_layers": 3},
    {"name": "32 units", "units": 32},
    {"name": "64 units", "units": 64},
    {"name": "mse loss", "loss": "mse"},
    {"name": "tanh", "activation": "tanh"},
    {"name": "bigrams 50k + dropout 0.5", "ngrams": 2, "num_words": 50000, "dropout": 0.5},
    {"name": "linear, binary trigrams 1M", **_LINEAR_TRIGRAMS},
    {"name": "linear, tf-idf trigrams 1M", **_LINEAR_TRIGRAMS, "weighting": "tfidf", "learning_rate": 0.01},
    {"name": "linear, NB bigrams 1M", **_LINEAR_TRIGRAMS, "ngrams": 2, "weighting": "nb"},
    {"name": "linear, NB trigrams 1M (NBSVM-like)", **_LINEAR_TRIGRAMS, "weighting": "nb"},
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
                **{name: schema_of(name) for name in TRIAL_PARAMS},
            },
            "additionalProperties": False,
        },
        "title": "Configurations to compare",
        "description": "One object per trial: a name and the parameters it changes from the ones above "
        f"({', '.join(TRIAL_PARAMS)}). Default: the book's further experiments, bigrams with dropout, "
        "and linear models on binary, tf-idf and Naive-Bayes-weighted n-grams.",
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
            f"unknown sweep parameter(s) {', '.join(unknown)}: "
            f"the sweep takes {', '.join(SWEEP_PARAM_SPECS)}."
        )
    try:
        jsonschema.validate(grid, {k: v for k, v in SWEEP_PARAM_SPECS["grid"].items() if k != "default"})
    except jsonschema.ValidationError as err:
        where = "".join(f"[{part!r}]" for part in err.absolute_path)
        path = list(err.absolute_path)
        if err.validator == "enum" and len(path) == 2:  # the list, in the words of its message
            message = f"{shorten(repr(err.instance))} is not {describe(path[1])}"
        else:
            message = shorten(err.message, 300)
        raise PipelineInputError(
            f"parameter grid{where} is invalid: {message}. Give 1 to {MAX_TRIALS} objects, each with an "
            f"optional name and only these keys: {', '.join(TRIAL_PARAMS)}."
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
