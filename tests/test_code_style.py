"""The code keeps its shape: ruff's lint and format, and the import contracts of pyproject.toml
(the library never imports Airflow, no cycles between its modules, thin DAG files)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from stage_runs import PROJECT

BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}  # dags/ is checked as a package
    return subprocess.run(command, cwd=PROJECT, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize(
    "command",
    [("ruff", "check", "."), ("ruff", "format", "--check", "."), ("lint-imports",)],
    ids=["ruff-check", "ruff-format", "import-contracts"],
)
def test_no_findings(command):
    tool = BIN / command[0] if (BIN / command[0]).exists() else shutil.which(command[0])
    assert tool, f"{command[0]} is not installed: it is in requirements.txt"
    result = run(str(tool), *command[1:])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


LONG_MODULE_REASON = "Long because"  # a module over the limit says why at its top, in its docstring


def test_modules_are_small_or_say_why():
    modules = [
        *(PROJECT / "include").rglob("*.py"),
        *(PROJECT / "plugins").rglob("*.py"),
        *(PROJECT / "dags").glob("*.py"),
    ]
    long = [
        f"{path.relative_to(PROJECT)}: {len(lines)} lines"
        for path in modules
        if len(lines := path.read_text().splitlines()) > 250
        and LONG_MODULE_REASON not in "\n".join(lines[:20])
    ]
    assert not long, (
        f"split these modules by job, or say '{LONG_MODULE_REASON} ...' in their docstring: {long}"
    )
