"""Promote: make the gate's blessed model the champion, or record why not (TFX's Pusher).

The stage always finishes and writes ``promotion.json`` with ``promoted`` and the reason, so the
decision is an artifact like any other; the DAG's task turns "not promoted" into a skip. The gate
is judged again under the store's lock against the champion of that moment: two runs finishing
together cannot both replace it blindly.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from imdb_pipeline.core.parameters import PipelineConfig
from imdb_pipeline.stages import gate
from imdb_pipeline.store import artifacts, model_store

log = logging.getLogger(__name__)

_SWITCH_TRIES = 3


def promote(inputs: dict[str, str], config: PipelineConfig, out: artifacts.StageOutput) -> dict[str, str]:
    """Write ``promotion.json``: the champion version this run's model became, or why it did not."""
    decision = artifacts.read_json(inputs["decision"])
    if decision["blessed"]:
        record = _promote_blessed(inputs, decision, config)
    else:
        record = {"promoted": False, "reason": f"the gate did not bless the model: {decision['reason']}"}
    log.info("promotion: %s", record)
    artifacts.write_json(out.path("promotion", "promotion.json"), record)
    return out.final_paths()


def _promote_blessed(
    inputs: dict[str, str], decision: dict[str, Any], config: PipelineConfig
) -> dict[str, Any]:
    root = artifacts.artifact_root()
    evaluation = artifacts.read_json(inputs["evaluation"])
    model_sha256 = artifacts.sha256_file(Path(inputs["model"]))
    with model_store.promotion_lock(root):
        for attempt in range(1, _SWITCH_TRIES + 1):
            try:
                return _judge_and_switch(inputs, decision, config, evaluation, model_sha256, root)
            except model_store.ChampionChanged as err:  # only on a bucket: its lock is a lease
                log.warning("%s (try %d of %d): judging again", err, attempt, _SWITCH_TRIES)
    return {"promoted": False, "reason": "the champion kept changing during promotion: run promote again"}


def _judge_and_switch(
    inputs: dict[str, str],
    decision: dict[str, Any],
    config: PipelineConfig,
    evaluation: dict[str, Any],
    model_sha256: str,
    root: artifacts.Location,
) -> dict[str, Any]:
    """Against the champion of this moment: judge, install and switch (undone if the switch loses)."""
    current = model_store.current(root)
    if current is not None and current.get("model_sha256") == model_sha256:
        return {
            "promoted": True,
            "version": current["version"],
            "reason": "already the champion (the same model)",
        }
    now = gate.judge(evaluation, decision["candidate"].get("data_fingerprint"), current, config)
    if not now["blessed"]:
        return {"promoted": False, "reason": f"the champion changed since the gate: {now['reason']}"}
    files = {name: inputs[name] for name in model_store.MODEL_FILES if name in inputs}
    files["evaluation"] = inputs["evaluation"]
    previous = current["version"] if current else None
    info = {
        **decision["candidate"],
        "model_sha256": model_sha256,
        "test_accuracy": evaluation["test_accuracy"],
        "test_loss": evaluation["test_loss"],
        "roc_auc": evaluation["roc_auc"],
        "config": config.to_dict(),
        "promoted_at": dt.datetime.now(dt.UTC).isoformat(),
        "previous": previous,
        "decision": now,
    }
    version = model_store.install(files, info, root)
    try:
        model_store.switch_to(version, root, replacing=current.get("pointer_etag") if current else None)
    except model_store.ChampionChanged:
        model_store.discard(version, root)
        raise
    model_store.prune(root)
    return {
        "promoted": True,
        "version": version,
        "previous": previous,
        "model_sha256": model_sha256,
        "test_accuracy": evaluation["test_accuracy"],
        "reason": now["reason"],
    }
