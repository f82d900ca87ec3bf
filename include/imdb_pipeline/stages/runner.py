"""Running the stages of the graph (``graph.GRAPH``): one, or all of them, without Airflow.

``run_stage`` validates the parameters, takes each upstream's outputs (from XCom when Airflow has
them, else from the run folder), verifies their checksums, and runs the stage's function (from
``STAGE_FUNCTIONS``) inside an atomic ``stage_writer``.

    python -m imdb_pipeline.stages.runner --run-dir /tmp/run --param data_path=aclImdb_v1.tar.gz
    python -m imdb_pipeline.stages.runner --run-dir s3://bucket/runs/one ...   # AWS_* from the environment
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from imdb_pipeline.core.errors import run_cli
from imdb_pipeline.core.parameters import PipelineConfig
from imdb_pipeline.core.resources import StageMeter, release_free_memory
from imdb_pipeline.stages import evaluate, gate, ingest, promote, report, train, vectorize
from imdb_pipeline.stages.graph import GRAPH, STAGES, Outputs
from imdb_pipeline.store import artifacts, object_store

log = logging.getLogger(__name__)

# Each stage's function, ``stage(inputs, config, out) -> Outputs``. The modules import TensorFlow,
# scikit-learn and matplotlib only inside the functions that need them.
STAGE_FUNCTIONS: dict[str, Callable[..., Outputs]] = {
    "ingest": ingest.ingest,
    "vectorize": vectorize.vectorize,
    "train": train.train,
    "evaluate": evaluate.evaluate,
    "gate": gate.gate,
    "report": report.report,
    "promote": promote.promote,
}


def stage_function(stage: str) -> Callable[..., Outputs]:
    """The stage's function; an unknown stage is refused with the list of stages."""
    if stage not in STAGE_FUNCTIONS:
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    return STAGE_FUNCTIONS[stage]


def outputs_of(
    given: Mapping[str, str] | None,
    run_path: artifacts.Location,
    folder: str,
    dag_id: str | None = None,
    task_id: str | None = None,
) -> Outputs:
    """A finished upstream stage's outputs as local files: the XCom ``given`` when Airflow passed it,
    else read from ``<run_path>/<folder>`` (under ``airflow tasks test``); checksums verified either way."""
    if given:
        return artifacts.localize(given)
    log.info("no XCom from %s: reading its outputs from %s", task_id or folder, run_path / folder)
    return artifacts.read_stage(run_path, folder, dag_id, task_id=task_id)


def gather_inputs(
    stage: str,
    run_path: artifacts.Location,
    upstream: Mapping[str, Mapping[str, str] | None] | None = None,
    dag_id: str | None = None,
    folders: Mapping[str, str] | None = None,
) -> Outputs:
    """The outputs of ``stage``'s upstream stages, merged, checksums verified. ``upstream`` names each
    one's outputs; an absent or None entry is read from the run folder (``folders`` names an upstream's
    folder when it is not the stage's name)."""
    upstream = dict(upstream or {})
    unknown = sorted(set(upstream) - set(GRAPH[stage]))
    if unknown:
        raise ValueError(
            f"stage {stage!r} reads {', '.join(GRAPH[stage]) or 'nothing'}, not {', '.join(unknown)}"
        )
    inputs: Outputs = {}
    for name in GRAPH[stage]:
        folder = (folders or {}).get(name, name)
        inputs.update(outputs_of(upstream.get(name), run_path, folder, dag_id, task_id=name))
    return inputs


def run_in_folder(
    function: Callable[..., Outputs],
    config: PipelineConfig,
    run_path: artifacts.Location,
    folder: str,
    inputs: Mapping[str, str],
) -> Outputs:
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
    run_path: artifacts.Location,
    upstream: Mapping[str, Mapping[str, str] | None] | None = None,
    dag_id: str | None = None,
    folder: str | None = None,
    upstream_folders: Mapping[str, str] | None = None,
) -> Outputs:
    """Run one stage into ``<run_path>/<folder or stage>``; returns its outputs."""
    config = PipelineConfig.from_params(params)
    function = stage_function(stage)
    inputs = gather_inputs(stage, run_path, upstream, dag_id, upstream_folders)
    return run_in_folder(function, config, run_path, folder or stage, inputs)


def run_pipeline(
    params: Mapping[str, Any] | None, run_path: artifacts.Location, promote: bool = False
) -> dict[str, Outputs]:
    """All stages in graph order, without Airflow (tests, benchmarks, debugging). ``promote`` runs
    only when asked: a debugging run must not replace the deployment's champion."""
    results: dict[str, Outputs] = {}
    for stage in STAGES:
        if stage == "promote" and not promote:
            log.info("promote not run: not asked for (--promote)")
            continue
        results[stage] = run_stage(stage, params, run_path, {name: results[name] for name in GRAPH[stage]})
    return results


def _parse_param(text: str) -> tuple[str, Any]:
    name, _, raw = text.partition("=")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the IMDB pipeline's stages without Airflow.")
    parser.add_argument(
        "--run-dir",
        required=True,
        help="folder for this run's artifacts, or a bucket URL (s3://bucket/prefix)",
    )
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
    return run_cli(_run_and_print, params, args.run_dir, args.stage, args.promote)


def _run_and_print(params: dict[str, Any], run_dir: str, stage: str | None, promote: bool) -> None:
    run_path = artifacts.location(run_dir)
    if isinstance(run_path, Path):
        run_path = run_path.resolve()
    else:
        object_store.check_root(run_path)
    if stage:
        outputs = {stage: run_stage(stage, params, run_path)}
    else:
        outputs = run_pipeline(params, run_path, promote=promote)
    print(json.dumps(outputs, indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
