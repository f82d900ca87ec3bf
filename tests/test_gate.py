"""The gate blesses a model good enough to replace the champion, and says why."""

import pytest

from imdb_pipeline.config import PipelineConfig
from imdb_pipeline.gate import judge

CONFIG = PipelineConfig.from_params({"min_accuracy": 0.85, "max_regression": 0.01})
CHAMPION = {"version": "v1", "test_accuracy": 0.88}


def test_first_model_above_the_minimum_is_blessed_without_a_regression_check():
    decision = judge({"test_accuracy": 0.86}, None, CONFIG)
    assert decision["blessed"] is True
    assert decision["checks"][1] == {
        "check": "max_regression",
        "passed": True,
        "skipped": True,
        "detail": "no champion yet",
    }


@pytest.mark.parametrize(
    ("accuracy", "champion", "blessed", "words"),
    [
        (0.84, None, False, ["0.84000 < min_accuracy 0.85000"]),
        (0.85, None, True, ["0.85000 >= min_accuracy"]),
        (0.9, CHAMPION, True, ["at or above the champion's 0.88000"]),
        (0.871, CHAMPION, True, ["within max_regression of the champion's"]),
        (0.87, CHAMPION, True, ["within"]),  # exactly one point below: allowed
        (0.869, CHAMPION, False, ["more than max_regression below", "0.88000", "floor 0.87000", "v1"]),
        (0.5, CHAMPION, False, ["min_accuracy", "max_regression"]),
    ],
)
def test_decision_and_its_reason(accuracy, champion, blessed, words):
    decision = judge({"test_accuracy": accuracy}, champion, CONFIG)
    assert decision["blessed"] is blessed
    assert decision["reason"].startswith("blessed" if blessed else "not blessed")
    for word in words:
        assert word in decision["reason"]


def test_gate_params_are_validated():
    from imdb_pipeline.errors import PipelineInputError

    with pytest.raises(PipelineInputError, match="min_accuracy=1.5"):
        PipelineConfig.from_params({"min_accuracy": 1.5})
    with pytest.raises(PipelineInputError, match="max_regression=-0.1"):
        PipelineConfig.from_params({"max_regression": -0.1})


def test_a_bound_met_up_to_float_rounding_is_met():
    config = PipelineConfig.from_params({"min_accuracy": 0.5, "max_regression": 0.1})
    # The floor 0.8 - 0.1 is 0.7000000000000001 in binary floating point: 0.7 meets it all the same.
    assert judge({"test_accuracy": 0.7}, {"version": "v1", "test_accuracy": 0.8}, config)["blessed"] is True
    assert judge({"test_accuracy": 0.6999}, {"version": "v1", "test_accuracy": 0.8}, config)["blessed"] is False
