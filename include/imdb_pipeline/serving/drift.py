"""Drift: does a scored batch still look like the data the champion was trained on?

Three checks against the champion's training statistics (``batch_stats.training_statistics``):

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
from typing import Any

import numpy as np

from imdb_pipeline.core.errors import PipelineInputError


@dataclasses.dataclass(frozen=True)
class DriftThresholds:
    length_alpha: float = 0.001
    length_min_statistic: float = 0.1
    oov_max_increase: float = 0.05
    positive_rate_max_delta: float = 0.25
    min_rows: int = 100  # fewer rows: too little to test

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> DriftThresholds:
        """Thresholds from params (unknown keys ignored); each must be a number in its range."""
        fields = {field.name: field.type for field in dataclasses.fields(cls)}
        chosen = {name: values[name] for name in fields if values.get(name) is not None}
        for name, value in chosen.items():
            upper = None if name == "min_rows" else 1
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise PipelineInputError(f"drift threshold {name}={value!r} must be a number >= 0.")
            if upper is not None and value > upper:
                raise PipelineInputError(f"drift threshold {name}={value!r} must be between 0 and 1.")
        if "min_rows" in chosen:
            chosen["min_rows"] = int(chosen["min_rows"])
        return cls(**chosen)


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
