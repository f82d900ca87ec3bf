"""`scripts/run.sh`, the README's first command, as written: it runs the DAG once and prints the
test accuracy and where the report is; with the artifact root in a bucket too."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from stage_runs import PROJECT, TINY_PARAMS

pytestmark = pytest.mark.slow


def run_script(
    tarball: Path, home: Path, root: str, extra_env: dict | None = None
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        **(extra_env or {}),
        "IMDB_DATA_PATH": str(tarball),
        "IMDB_CONF": json.dumps({**TINY_PARAMS, "min_accuracy": 0.6}),
        "AIRFLOW_HOME": str(home),  # not the project's .airflow/
        "IMDB_ARTIFACT_ROOT": root,
    }
    return subprocess.run(
        [str(PROJECT / "scripts" / "run.sh")], capture_output=True, text=True, env=env, timeout=900, cwd=home
    )


def test_the_run_script_prints_the_accuracy_and_the_report(tiny_aclimdb_tarball, tmp_path):
    result = run_script(tiny_aclimdb_tarball, tmp_path, str(tmp_path / "artifacts"))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    printed = dict(
        line.split(":", 1) for line in result.stdout.splitlines() if line.startswith(("report:", "metrics:"))
    )
    report = Path(printed["report"].strip())
    assert report.is_file() and report.is_relative_to(tmp_path / "artifacts" / "imdb_sentiment")
    assert re.search(r"^test accuracy [01]\.\d{4}, test loss", result.stdout, re.M)


def test_the_run_script_with_the_artifact_root_in_a_bucket(tiny_aclimdb_tarball, tmp_path, s3_root):
    result = run_script(tiny_aclimdb_tarball, tmp_path, s3_root)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert re.search(r"^test accuracy [01]\.\d{4}, test loss", result.stdout, re.M)
    assert f"bucket:  {s3_root}/imdb_sentiment/" in result.stdout
    assert not (tmp_path / "artifacts").exists() and not (tmp_path / "s3:").exists()
