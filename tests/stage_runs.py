"""What tests share besides fixtures: paths, the tiny run's params, running stages as an executor would.

Tests import this module; ``conftest.py`` only holds fixtures and the test environment.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

from sample_data import SMALL_PARAMS

from imdb_pipeline.stages.graph import STAGES as PIPELINE_STAGES

PROJECT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(
    os.environ.get("IMDB_REAL_DATA", PROJECT.parent / "shared" / "data" / "aclImdb_v1_labeled.tar.gz")
)

TINY_PARAMS = SMALL_PARAMS
# A run without promotion: what the real-data and scale tests measure.
STAGES = [stage for stage in PIPELINE_STAGES if stage != "promote"]
MEMORY_GOAL_MB = 1000  # per task, the performance issue's goal (the book's script: 8-10 GB)


def run_stages_in_processes(
    data_path: Path, run_path: Path | str, artifact_root: Path | str, params: dict | None = None
) -> dict:
    """Every stage in its own process, as under a real executor; returns the run's metrics.json.
    ``run_path`` and ``artifact_root`` may be bucket URLs (the environment says how to reach it)."""
    from imdb_pipeline.store import artifacts

    env = {**os.environ, "IMDB_ARTIFACT_ROOT": str(artifact_root), "TF_CPP_MIN_LOG_LEVEL": "2"}
    for stage in STAGES:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "imdb_pipeline.stages.runner",
                "--run-dir",
                str(run_path),
                "--stage",
                stage,
                "--param",
                f"data_path={data_path}",
                *[f"--param={name}={json.dumps(value)}" for name, value in (params or {}).items()],
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )
        assert result.returncode == 0, f"{stage}:\n{result.stderr[-3000:]}"
    report = artifacts.read_stage(artifacts.location(str(run_path)), "report", only=("metrics",))
    return artifacts.read_json(report["metrics"])


def tiny_params(data_path: Path, **params) -> dict:
    """The tiny run's params for a dataset, with overrides."""
    return {**TINY_PARAMS, "data_path": str(data_path), **params}


@functools.cache
def airflow_plugins() -> list[dict]:
    """The project's plugins as Airflow itself lists them (``airflow plugins``); run once a session."""
    env = {**os.environ, "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins")}
    command = [sys.executable, "-m", "airflow", "plugins", "--output", "json"]
    listed = subprocess.run(command, capture_output=True, text=True, env=env, check=True, timeout=120)
    return json.loads(listed.stdout)
