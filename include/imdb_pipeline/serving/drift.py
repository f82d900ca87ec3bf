"""Drift: does a scored batch still look like the data the champion was trained on?

Three checks against the champion's training statistics (``review_stats.training_statistics``):

- **length**: a two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``) on review lengths in
  words. A large batch makes any tiny difference "significant", so a batch drifts only when the test
  is significant (p < ``length_alpha``) *and* the distributions differ by at least
  ``length_min_statistic`` (the KS statistic: the largest gap between the two cumulative shares).
- **oov_share**: the share of words without a column of their own grew by more than ``oov_max_increase``.
- **positive_rate**: the predicted positive rate is more than ``positive_rate_max_delta`` from the
  training labels' rate.

A drifted batch is still scored: drift is a flag for people, not a reason to drop data.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from imdb_pipeline.core.errors import PipelineInputError

# name -> JSON schema of each threshold, "default" its value: the one definition the imdb_score DAG's
# trigger form (``params_from_specs``) and ``DriftThresholds`` both read.
PARAM_SPECS: dict[str, dict[str, Any]] = {
    "length_alpha": {
        "default": 0.001,
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "title": "length_alpha",
        "description": "Length test: a batch drifts only when the KS test's p-value is below this",
    },
    "length_min_statistic": {
        "default": 0.1,
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "title": "length_min_statistic",
        "description": "...and the KS statistic (largest gap of the cumulative shares) is at least this",
    },
    "oov_max_increase": {
        "default": 0.05,
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "title": "oov_max_increase",
        "description": "Drift when the share of out-of-vocabulary words grows by more than this",
    },
    "positive_rate_max_delta": {
        "default": 0.25,
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "title": "positive_rate_max_delta",
        "description": "Drift when the predicted positive rate is further than this from training's",
    },
    "min_rows": {
        "default": 100,
        "type": "integer",
        "minimum": 1,
        "title": "min_rows",
        "description": "Smaller batches are not tested",
    },
}


@dataclasses.dataclass(frozen=True)
class DriftThresholds:
    length_alpha: float = PARAM_SPECS["length_alpha"]["default"]
    length_min_statistic: float = PARAM_SPECS["length_min_statistic"]["default"]
    oov_max_increase: float = PARAM_SPECS["oov_max_increase"]["default"]
    positive_rate_max_delta: float = PARAM_SPECS["positive_rate_max_delta"]["default"]
    min_rows: int = PARAM_SPECS["min_rows"]["default"]  # fewer rows: too little to test

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> DriftThresholds:
        """Thresholds from params (unknown keys ignored); each must be in its ``PARAM_SPECS`` range."""
        chosen = {name: values[name] for name in PARAM_SPECS if values.get(name) is not None}
        for name, value in chosen.items():
            _check(name, value)
        if "min_rows" in chosen:
            chosen["min_rows"] = int(chosen["min_rows"])
        return cls(**chosen)


def _check(name: str, value: Any) -> None:
    spec = PARAM_SPECS[name]
    low, high, whole = spec["minimum"], spec.get("maximum"), spec["type"] == "integer"
    number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if (
        not number
        or (whole and not float(value).is_integer())
        or value < low
        or (high is not None and value > high)
    ):
        kind = "a whole number" if whole else "a number"
        allowed = f"from {low} to {high}" if high is not None else f">= {low}"
        raise PipelineInputError(f"drift threshold {name}={value!r} must be {kind} {allowed}.")


def check(
    batch: dict[str, Any],
    length_sample: np.ndarray,
    reference: dict[str, Any] | None,
    limits: DriftThresholds,
) -> dict[str, Any]:
    """``{"drifted": bool, "checks": {...}}`` or, without a reference or enough rows, why not tested."""
    if reference is None:
        return {"drifted": False, "tested": False, "reason": "the champion has no training statistics"}
    if batch["rows"] < limits.min_rows:
        return {
            "drifted": False,
            "tested": False,
            "reason": f"{batch['rows']} rows, fewer than min_rows={limits.min_rows}",
        }
    from scipy import stats

    reference_lengths = np.asarray(reference["length_sample"], dtype=np.int64)
    result = stats.ks_2samp(length_sample, reference_lengths)
    statistic, p_value = float(result.statistic), float(result.pvalue)
    oov_increase = batch["oov_share"] - reference["oov_share"]
    rate_delta = abs(batch["positive_rate"] - reference["positive_rate"])
    checks = {
        "length": {
            "ks_statistic": round(statistic, 4),
            "p_value": p_value,
            "drifted": p_value < limits.length_alpha and statistic >= limits.length_min_statistic,
        },
        "oov_share": {
            "batch": batch["oov_share"],
            "training": reference["oov_share"],
            "increase": round(oov_increase, 6),
            "drifted": oov_increase > limits.oov_max_increase,
        },
        "positive_rate": {
            "batch": batch["positive_rate"],
            "training": reference["positive_rate"],
            "delta": round(rate_delta, 6),
            "drifted": rate_delta > limits.positive_rate_max_delta,
        },
    }
    flags = [name for name, item in checks.items() if item["drifted"]]
    return {
        "drifted": bool(flags),
        "tested": True,
        "flags": flags,
        "checks": checks,
        "thresholds": dataclasses.asdict(limits),
    }
