"""drift: a batch unlike the training data is flagged, one like it is not; thresholds are params."""

import numpy as np
import pytest

from imdb_pipeline.core.errors import PipelineInputError
from imdb_pipeline.serving import drift

RNG = np.random.default_rng(0)
REFERENCE = {
    "length_sample": RNG.lognormal(5.3, 0.7, 20_000).astype(int).tolist(),
    "oov_share": 0.05,
    "positive_rate": 0.5,
}


def batch(rows=5000, oov=0.05, rate=0.5):
    return {"rows": rows, "oov_share": oov, "positive_rate": rate}


def test_a_batch_like_the_training_data_is_not_flagged():
    lengths = np.random.default_rng(1).lognormal(5.3, 0.7, 5000).astype(int)
    result = drift.check(batch(oov=0.06, rate=0.45), lengths, REFERENCE, drift.DriftThresholds())
    assert result["tested"] and not result["drifted"] and result["flags"] == []
    assert result["checks"]["length"]["ks_statistic"] < 0.05


def test_short_texts_with_other_words_are_flagged():
    lengths = np.random.default_rng(2).integers(3, 25, 5000)
    result = drift.check(batch(oov=0.4, rate=0.9), lengths, REFERENCE, drift.DriftThresholds())
    assert result["drifted"] and result["flags"] == ["length", "oov_share", "positive_rate"]
    assert result["checks"]["oov_share"]["increase"] == pytest.approx(0.35)


def test_a_tiny_difference_in_a_huge_batch_is_not_drift():
    lengths = (np.random.default_rng(3).lognormal(5.3, 0.7, 200_000) * 1.03).astype(int)
    result = drift.check(batch(rows=200_000), lengths, REFERENCE, drift.DriftThresholds())
    assert result["checks"]["length"]["p_value"] < 0.001 and not result["drifted"]


def test_without_a_reference_or_enough_rows_nothing_is_tested():
    no_reference = drift.check(batch(), np.arange(10), None, drift.DriftThresholds())
    assert no_reference == {
        "drifted": False,
        "tested": False,
        "reason": "the champion has no training statistics",
    }
    few = drift.check(batch(rows=5), np.arange(5), REFERENCE, drift.DriftThresholds())
    assert not few["tested"] and "fewer than min_rows=100" in few["reason"]


def test_thresholds_come_from_params_and_are_checked():
    limits = drift.DriftThresholds.from_mapping({"oov_max_increase": 0.5, "min_rows": 10.0, "rescore": "all"})
    assert limits.oov_max_increase == 0.5 and limits.min_rows == 10 and limits.length_alpha == 0.001
    with pytest.raises(PipelineInputError, match="oov_max_increase=2 must be a number from 0 to 1"):
        drift.DriftThresholds.from_mapping({"oov_max_increase": 2})
    with pytest.raises(PipelineInputError, match="min_rows='x' must be a whole number >= 1"):
        drift.DriftThresholds.from_mapping({"min_rows": "x"})
    with pytest.raises(PipelineInputError, match="min_rows=0 must be a whole number >= 1"):
        drift.DriftThresholds.from_mapping({"min_rows": 0})  # the trigger form's minimum, one schema


def test_the_defaults_are_the_schemas():
    assert drift.DriftThresholds() == drift.DriftThresholds(
        **{name: spec["default"] for name, spec in drift.PARAM_SPECS.items()}
    )
