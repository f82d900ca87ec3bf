"""Running stages: the one place that knows their order, their inputs and how their output is kept.

A DAG task, a test and the command line all call ``run_stage``: it validates the parameters,
takes the upstream outputs (from XCom when Airflow has them, else from the run folder), verifies
their checksums, and runs the stage inside an atomic ``stage_writer`` with a ``StageMeter``.

    python -m imdb_pipeline.pipeline --run-dir /tmp/run --param data_path=aclImdb_v1.tar.gz
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from imdb_pipeline import artifacts
from imdb_pipeline.config import PipelineConfig
from imdb_pipeline.resources import StageMeter, release_free_memory

log = logging.getLogger(__name__)

DAG_ID = "imdb_sentiment"
# stage -> the stages whose outputs it reads, in the order a DAG task receives them.
UPSTREAM: dict[str, tuple[str, ...]] = {
    "ingest": (),
    "vectorize": ("ingest",),
    "train": ("ingest", "vectorize"),
    "evaluate": ("vectorize", "train"),
    "gate": ("evaluate",),
    "report": ("ingest", "train", "evaluate", "gate"),
    "promote": ("train", "evaluate", "gate"),
}
STAGES = tuple(UPSTREAM)
# Stages whose function lives in a module of another name.
STAGE_MODULES = {"promote": "champion"}


def stage_function(stage: str) -> Callable[..., dict[str, str]]:
    """The stage's function, imported only when it runs (train and evaluate pull in TensorFlow)."""
    import importlib

    if stage not in UPSTREAM:
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    return getattr(importlib.import_module(f"imdb_pipeline.{STAGE_MODULES.get(stage, stage)}"), stage)


def outputs_of(
    given: Mapping[str, str] | None,
    run_path: Path,
    folder: str,
    dag_id: str = DAG_ID,
    task_id: str | None = None,
) -> dict[str, str]:
    """A finished upstream stage's outputs: the XCom ``given`` when Airflow passed it, else read from
    ``<run_path>/<folder>`` (under ``airflow tasks test``); checksums verified either way."""
    if given:
        artifacts.verify_outputs(given)
        return dict(given)
    log.info("no XCom from %s: reading its outputs from %s", task_id or folder, run_path / folder)
    return artifacts.read_stage(run_path, folder, dag_id, task_id=task_id)


def gather_inputs(
    stage: str,
    run_path: Path,
    upstream_outputs: Sequence[Mapping[str, str] | None] = (),
    dag_id: str = DAG_ID,
    folders: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The upstream outputs a stage reads, checksums verified; the run folder fills in absent XCom
    (``folders`` names an upstream stage's folder when it is not the stage's name)."""
    given = list(upstream_outputs) + [None] * (len(UPSTREAM[stage]) - len(upstream_outputs))
    inputs: dict[str, str] = {}
    for upstream, outputs in zip(UPSTREAM[stage], given):
        inputs.update(
            outputs_of(outputs, run_path, (folders or {}).get(upstream, upstream), dag_id, task_id=upstream)
        )
    return inputs


def run_in_folder(
    function: Callable[..., dict[str, str]],
    config: PipelineConfig,
    run_path: Path,
    folder: str,
    inputs: Mapping[str, str],
) -> dict[str, str]:
    """Run a stage function into ``<run_path>/<folder>``: atomically, metered, its config recorded."""
    try:
        with StageMeter() as meter, artifacts.stage_writer(run_path, folder) as out:
            out.meter = meter
            out.extra["config"] = config.to_dict()
            outputs = function(dict(inputs), config, out)
    finally:
        release_free_memory()
    snapshot = meter.snapshot()
    log.info(
        "%s finished in %.1f s, peak RSS %.0f MB", folder, snapshot["wall_seconds"], snapshot["peak_rss_mb"]
    )
    return outputs


def run_stage(
    stage: str,
    params: Mapping[str, Any] | None,
    run_path: Path,
    upstream_outputs: Sequence[Mapping[str, str] | None] = (),
    dag_id: str = DAG_ID,
    folder: str | None = None,
    upstream_folders: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Run one stage into ``<run_path>/<folder or stage>``; returns its outputs (name -> absolute path)."""
    config = PipelineConfig.from_params(params)
    function = stage_function(stage)
    inputs = gather_inputs(stage, run_path, upstream_outputs, dag_id, upstream_folders)
    return run_in_folder(function, config, run_path, folder or stage, inputs)


def run_pipeline(
    params: Mapping[str, Any] | None, run_path: Path, promote: bool = False
) -> dict[str, dict[str, str]]:
    """All stages in order, without Airflow (tests, benchmarks, debugging). ``promote`` only when
    asked (a debugging run must not replace the deployment's champion) and the gate blessed the model."""
    from imdb_pipeline import gate

    results: dict[str, dict[str, str]] = {}
    for stage in STAGES:
        if stage == "promote":
            blessed, reason = gate.is_blessed(results["gate"])
            if not promote or not blessed:
                log.info("promote skipped: %s", reason if promote else "not asked for (--promote)")
                continue
        results[stage] = run_stage(stage, params, run_path, [results[name] for name in UPSTREAM[stage]])
    return results


def _parse_param(text: str) -> tuple[str, Any]:
    name, _, raw = text.partition("=")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the IMDB pipeline's stages without Airflow.")
    parser.add_argument("--run-dir", type=Path, required=True, help="folder for this run's artifacts")
    parser.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="a pipeline parameter"
    )
    parser.add_argument("--stage", choices=STAGES, help="run only this stage (default: all)")
    parser.add_argument(
        "--promote",
        action="store_true",
        help="with all stages: make a blessed model the champion (default: gate only)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    params = dict(_parse_param(item) for item in args.param)
    if args.stage:
        outputs = {args.stage: run_stage(args.stage, params, args.run_dir.resolve())}
    else:
        outputs = run_pipeline(params, args.run_dir.resolve(), promote=args.promote)
    print(json.dumps(outputs, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
