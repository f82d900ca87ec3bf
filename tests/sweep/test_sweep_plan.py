"""The sweep's plan: the book's grid by default, every trial validated before any training starts."""

import json

import pytest

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.sweep.plan import (
    BOOK_GRID,
    MAX_TRIALS,
    SWEEP_PARAM_SPECS,
    TRIAL_PARAMS,
    Trial,
    plan_trials,
)


def test_default_grid_is_the_books_experiments_bigrams_with_dropout_and_weighted_linear_models():
    trials = plan_trials({})
    changed = [{key: value for key, value in entry.items() if key != "name"} for entry in BOOK_GRID]
    for change in (
        {},
        {"hidden_layers": 1},
        {"hidden_layers": 3},
        {"units": 32},
        {"units": 64},
        {"loss": "mse"},
        {"activation": "tanh"},
    ):
        assert change in changed
    bigram = next(trial for trial in trials if trial.params["ngrams"] == 2)
    assert bigram.params["dropout"] > 0
    nbsvm_like = next(
        trial for trial in trials if trial.params["weighting"] == "nb" and trial.params["ngrams"] == 3
    )
    assert nbsvm_like.params["hidden_layers"] == 0 and nbsvm_like.params["num_words"] == 1_000_000
    assert {trial.params["weighting"] for trial in trials} == {"binary", "tfidf", "nb"}
    assert {trial.features for trial in trials} == {
        "w10000-n1",
        bigram.features,
        "w1000000-n2",
        "w1000000-n3",
    }
    assert len({trial.params["validation_size"] for trial in trials}) == 1  # one validation split for all


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"grid": []}, ["grid", "should be non-empty"]),
        ({"grid": [{}] * (MAX_TRIALS + 1)}, ["grid", "is too long", f"1 to {MAX_TRIALS}"]),
        ({"grid": [{"seed": 3}]}, ["'seed' was unexpected", "only these keys"]),
        ({"grid": [{"units": 0}]}, ["grid[0]['units']"]),
        ({"grid": [{"name": "a"}, {"name": "a", "units": 8}]}, ["two trials named 'a'"]),
        ({"grid": [{"final_epochs": "x"}]}, ["final_epochs"]),
        ({"grid": [{"final_epochs": 0}]}, ["grid[0]['final_epochs']", "minimum of 1"]),
        ({"grid": [{"activation": "softmax"}]}, ["grid[0]['activation']", "is not one of relu, tanh"]),
        ({"grid": [{"dropout": float("nan")}]}, ["grid[0]['dropout']", "NaN"]),
        (
            {"grid": [{"name": "too wide", "num_words": 1_000_000, "units": 4096}]},
            ["trial 0 (too wide)", "too big for the worker"],
        ),
        ({"min_accuracy": 0.9}, ["unknown sweep parameter", "min_accuracy"]),
    ],
)
def test_bad_grids_are_refused_with_a_message(params, words):
    with pytest.raises(PipelineInputError) as caught:
        plan_trials(params)
    for word in words:
        assert word in str(caught.value)


def test_unnamed_trials_are_named_after_their_changes():
    assert [trial.name for trial in plan_trials({"grid": [{}, {"units": 8, "loss": "mse"}]})] == [
        "base",
        "units=8, loss=mse",
    ]


def test_a_grid_entry_gives_final_epochs_as_a_number_or_null_for_auto():
    trials = plan_trials(
        {"grid": [{"name": "int", "final_epochs": 4}, {"name": "auto", "final_epochs": None}]}
    )
    assert [trial.params["final_epochs"] for trial in trials] == [4, None]
    with pytest.raises(PipelineInputError, match=r"grid\[0\]\['final_epochs'\]"):
        plan_trials({"grid": [{"final_epochs": "auto"}]})


def test_trials_keep_the_sweeps_shared_params_and_change_only_their_own():
    base, wide = plan_trials({"seed": 7, "epochs": 3, "grid": [{}, {"units": 32, "epochs": 5}]})
    assert (base.params["seed"], base.params["epochs"], base.params["units"]) == (7, 3, 16)
    assert (wide.params["seed"], wide.params["epochs"], wide.params["units"]) == (7, 5, 32)


def test_a_trial_survives_its_trip_through_xcom():
    for trial in plan_trials({}):
        record = json.loads(json.dumps(trial.to_dict()))
        assert Trial(record["index"], record["name"], record["params"]) == trial


def test_sweep_params_offer_the_grid_but_not_the_gate():
    assert "grid" in SWEEP_PARAM_SPECS and "min_accuracy" not in SWEEP_PARAM_SPECS
    assert set(SWEEP_PARAM_SPECS["grid"]["items"]["properties"]) == {"name", *TRIAL_PARAMS}


def test_the_default_grid_passes_airflows_param_validation():
    """What the trigger does with the sweep's grid (Airflow's Param validates the same schema)."""
    from airflow.sdk import Param

    spec = SWEEP_PARAM_SPECS["grid"]
    param = Param(spec["default"], **{key: value for key, value in spec.items() if key != "default"})
    assert param.resolve() == BOOK_GRID
    assert param.resolve([{"final_epochs": 4}]) == [{"final_epochs": 4}]
