"""Gate: is the new model good enough to replace the champion? (TFX's "blessing".)

Blessed when its test accuracy is at least ``min_accuracy`` and, when there is a champion, not more
than ``max_regression`` below the champion's. The decision and its reasons go to
``gate/decision.json``; the report shows them and the ``promote`` stage acts on them.
"""

from __future__ import annotations

import logging
from typing import Any

from imdb_pipeline import artifacts, champion
from imdb_pipeline.config import PipelineConfig

log = logging.getLogger(__name__)

# Accuracies are ratios of counts: a bound met up to rounding is met.
TOLERANCE = 1e-9


def judge(
    evaluation: dict[str, Any], current: dict[str, Any] | None, config: PipelineConfig
) -> dict[str, Any]:
    """The gate's decision for a model with this ``evaluation`` against the ``current`` champion."""
    accuracy = float(evaluation["test_accuracy"])
    good_enough = accuracy + TOLERANCE >= config.min_accuracy
    checks = [
        {
            "check": "min_accuracy",
            "passed": good_enough,
            "detail": f"test accuracy {accuracy:.5f} {'>=' if good_enough else '<'} "
            f"min_accuracy {config.min_accuracy:.5f}",
        }
    ]
    if current is None:
        checks.append(
            {"check": "max_regression", "passed": True, "skipped": True, "detail": "no champion yet"}
        )
    else:
        best = float(current["test_accuracy"])
        floor = best - config.max_regression
        passed = accuracy + TOLERANCE >= floor
        relation = (
            "at or above"
            if accuracy + TOLERANCE >= best
            else ("within max_regression of" if passed else "more than max_regression below")
        )
        checks.append(
            {
                "check": "max_regression",
                "passed": passed,
                "detail": f"test accuracy {accuracy:.5f} is {relation} the champion's {best:.5f} "
                f"(floor {floor:.5f} = champion - max_regression {config.max_regression:.5f}; "
                f"champion {current['version']})",
            }
        )
    blessed = all(check["passed"] for check in checks)
    return {
        "blessed": blessed,
        "reason": ("blessed: " if blessed else "not blessed: ")
        + "; ".join(check["detail"] for check in checks if blessed or not check["passed"]),
        "checks": checks,
        "min_accuracy": config.min_accuracy,
        "max_regression": config.max_regression,
        "test_accuracy": accuracy,
        "champion": None
        if current is None
        else {key: current.get(key) for key in ("version", "dag_id", "run", "test_accuracy", "promoted_at")},
    }


def gate(inputs: dict[str, str], config: PipelineConfig, out: artifacts.StageOutput) -> dict[str, str]:
    """Write ``decision.json``: blessed or not, and why."""
    run_path = out.dir.parent
    decision = judge(artifacts.read_json(inputs["evaluation"]), champion.current(), config)
    decision["candidate"] = {"dag_id": run_path.parent.name, "run": run_path.name, "run_dir": str(run_path)}
    log.info("gate: %s", decision["reason"])
    artifacts.write_json(out.path("decision", "decision.json"), decision)
    return out.final_paths()
