"""The gate blesses a model that is good enough and has a reason to replace the champion, and says why."""

import pytest

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.core.parameters import PipelineConfig
from imdb_pipeline.stages.gate import judge

CONFIG = PipelineConfig.from_params({"min_accuracy": 0.85, "max_regression": 0.01})
CHAMPION = {"version": "v1", "test_accuracy": 0.88, "data_fingerprint": "data-1"}
SAME, NEW = "data-1", "data-2"


def champion_check(decision):
    (check,) = [check for check in decision["checks"] if check["check"] == "champion"]
    return check


def test_the_first_model_above_the_minimum_is_blessed():
    decision = judge({"test_accuracy": 0.86}, SAME, None, CONFIG)
    assert decision["blessed"] is True
    assert champion_check(decision) == {
        "check": "champion",
        "rule": "first",
        "passed": True,
        "detail": "no champion yet",
    }


@pytest.mark.parametrize(
    ("accuracy", "blessed", "detail"),
    [
        (0.85, True, "test accuracy 0.85000 >= min_accuracy 0.85000"),  # exactly the minimum: enough
        (0.84, False, "test accuracy 0.84000 < min_accuracy 0.85000"),
    ],
    ids=["at the minimum", "below it"],
)
def test_min_accuracy_is_a_bound_met_at_equality(accuracy, blessed, detail):
    decision = judge({"test_accuracy": accuracy}, SAME, None, CONFIG)
    (check,) = [check for check in decision["checks"] if check["check"] == "min_accuracy"]
    assert decision["blessed"] is check["passed"] is blessed
    assert check["detail"] == detail and detail in decision["reason"]
    assert decision["reason"].startswith("blessed" if blessed else "not blessed")


@pytest.mark.parametrize(
    ("accuracy", "data", "blessed", "rule", "words"),
    [
        # Same data as the champion (the same test set): only a better model replaces it.
        (
            0.88,
            SAME,
            False,
            "same data",
            ["same data as the champion", "0.88000 is not better than the champion's 0.88000"],
        ),
        (0.87672, SAME, False, "same data", ["not better than"]),
        (0.8801, SAME, True, "same data", ["is better than the champion's 0.88000"]),
        # New data: within max_regression of the champion's accuracy is enough.
        (0.871, NEW, True, "new data", ["new data", "within max_regression of the champion's"]),
        (0.87, NEW, True, "new data", ["within"]),  # exactly one point below: allowed
        (0.869, NEW, False, "new data", ["more than max_regression below", "0.88000", "floor 0.87000", "v1"]),
        (0.9, None, True, "new data", ["at or above"]),  # data unknown: treated as new
    ],
)
def test_the_champion_changes_only_for_a_reason(accuracy, data, blessed, rule, words):
    decision = judge({"test_accuracy": accuracy}, data, CHAMPION, CONFIG)
    assert decision["blessed"] is blessed and champion_check(decision)["rule"] == rule
    assert decision["reason"].startswith("blessed" if blessed else "not blessed")
    for word in words:
        assert word in decision["reason"]


def test_a_champion_recorded_before_fingerprints_counts_as_other_data():
    old = {"version": "v0", "test_accuracy": 0.88}
    assert champion_check(judge({"test_accuracy": 0.875}, SAME, old, CONFIG))["rule"] == "new data"


def test_asked_for_it_replaces_a_better_champion_but_not_the_minimum():
    forced = PipelineConfig.from_params({"min_accuracy": 0.85, "force_promote": True})
    decision = judge({"test_accuracy": 0.86}, SAME, CHAMPION, forced)
    assert (
        decision["blessed"] is True and "asked to replace the champion (force_promote)" in decision["reason"]
    )
    assert judge({"test_accuracy": 0.80}, SAME, CHAMPION, forced)["blessed"] is False


def test_below_the_minimum_is_never_blessed():
    decision = judge({"test_accuracy": 0.5}, NEW, CHAMPION, CONFIG)
    assert decision["blessed"] is False
    assert "0.50000 < min_accuracy 0.85000" in decision["reason"] and "max_regression" in decision["reason"]


def test_gate_params_are_validated():
    with pytest.raises(PipelineInputError, match=r"min_accuracy=1\.5"):
        PipelineConfig.from_params({"min_accuracy": 1.5})
    with pytest.raises(PipelineInputError, match=r"max_regression=-0\.1"):
        PipelineConfig.from_params({"max_regression": -0.1})


def test_a_bound_met_up_to_float_rounding_is_met():
    config = PipelineConfig.from_params({"min_accuracy": 0.5, "max_regression": 0.1})
    champion = {"version": "v1", "test_accuracy": 0.8}
    # The floor 0.8 - 0.1 is 0.7000000000000001 in binary floating point: 0.7 meets it all the same.
    assert judge({"test_accuracy": 0.7}, NEW, champion, config)["blessed"] is True
    assert judge({"test_accuracy": 0.6999}, NEW, champion, config)["blessed"] is False
