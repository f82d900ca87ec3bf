"""Gate: should this model replace the champion? (TFX's "blessing".)

Blessed when its test accuracy is at least ``min_accuracy`` and it has a reason to replace the
champion: there is none yet; it is better on the same data (same train and test reviews, so the
same test set, as TFX compares a candidate and its baseline); it was trained on other (new) data
and is at most ``max_regression`` below; or ``force_promote`` asks for it. So a rerun on unchanged
data that is merely as good leaves the champion alone. The decision and its reasons go to
``gate/decision.json``; the report shows them and the ``promote`` stage acts on them.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from imdb_pipeline.core.parameters import PipelineConfig
from imdb_pipeline.store import artifacts, model_store

log = logging.getLogger(__name__)

# Accuracies are ratios of counts: a bound met up to rounding is met.
TOLERANCE = 1e-9


def judge(
    evaluation: dict[str, Any], data: str | None, current: dict[str, Any] | None, config: PipelineConfig
) -> dict[str, Any]:
    """The gate's decision for a model with this ``evaluation``, trained on ``data`` (its fingerprint),
    against the ``current`` champion."""
    accuracy = float(evaluation["test_accuracy"])
    good_enough = accuracy + TOLERANCE >= config.min_accuracy
    checks = [
        {
            "check": "min_accuracy",
            "passed": good_enough,
            "detail": f"test accuracy {accuracy:.5f} {'>=' if good_enough else '<'} "
            f"min_accuracy {config.min_accuracy:.5f}",
        },
        _against_the_champion(accuracy, data, current, config),
    ]
    blessed = all(check["passed"] for check in checks)
    return {
        "blessed": blessed,
        "reason": ("blessed: " if blessed else "not blessed: ")
        + "; ".join(check["detail"] for check in checks if blessed or not check["passed"]),
        "checks": checks,
        "min_accuracy": config.min_accuracy,
        "max_regression": config.max_regression,
        "force_promote": config.force_promote,
        "test_accuracy": accuracy,
        "data_fingerprint": data,
        "champion": None if current is None else {key: current.get(key) for key in CHAMPION_KEYS},
    }


CHAMPION_KEYS = ("version", "dag_id", "run", "test_accuracy", "promoted_at", "data_fingerprint")


def _against_the_champion(
    accuracy: float, data: str | None, current: dict[str, Any] | None, config: PipelineConfig
) -> dict[str, Any]:
    """The "reason to replace the champion" check."""
    if current is None:
        return {"check": "champion", "rule": "first", "passed": True, "detail": "no champion yet"}
    best = float(current["test_accuracy"])
    versus = f"the champion's {best:.5f} (champion {current['version']})"
    if config.force_promote:
        return {
            "check": "champion",
            "rule": "asked",
            "passed": True,
            "detail": f"asked to replace the champion (force_promote): test accuracy {accuracy:.5f}, "
            f"{versus}",
        }
    if data is not None and data == current.get("data_fingerprint"):
        better = accuracy > best + TOLERANCE
        relation = "better than" if better else "not better than"
        return {
            "check": "champion",
            "rule": "same data",
            "passed": better,
            "detail": f"same data as the champion: test accuracy {accuracy:.5f} is {relation} {versus}",
        }
    floor = best - config.max_regression
    passed = accuracy + TOLERANCE >= floor
    relation = (
        "at or above"
        if accuracy + TOLERANCE >= best
        else ("within max_regression of" if passed else "more than max_regression below")
    )
    return {
        "check": "champion",
        "rule": "new data",
        "passed": passed,
        "detail": f"new data (not the champion's): test accuracy {accuracy:.5f} is {relation} {versus}; "
        f"floor {floor:.5f} = champion - max_regression {config.max_regression:.5f}",
    }


def data_fingerprint(inputs: dict[str, str]) -> str:
    """What the model learned from and was tested on: the sha256 of ingest's token files, from its
    (verified) manifest. Equal fingerprints mean the same reviews, so accuracies compare directly."""
    digest = hashlib.sha256()
    for name in ("train_tokens", "test_tokens"):
        path = Path(inputs[name])
        digest.update(artifacts.read_manifest(path.parent)["files"][path.name]["sha256"].encode())
    return digest.hexdigest()


def gate(inputs: dict[str, str], config: PipelineConfig, out: artifacts.StageOutput) -> dict[str, str]:
    """Write ``decision.json``: blessed or not, and why."""
    run_path = out.run_path
    data = data_fingerprint(inputs)
    decision = judge(artifacts.read_json(inputs["evaluation"]), data, model_store.current(), config)
    decision["candidate"] = {
        "dag_id": run_path.parent.name,
        "run": run_path.name,
        "run_dir": str(run_path),
        "data_fingerprint": data,
    }
    log.info("gate: %s", decision["reason"])
    artifacts.write_json(out.path("decision", "decision.json"), decision)
    return out.final_paths()
