"""Dependencies as users install them: production runs requirements.txt only (the image too); the
tests and linters add requirements-dev.txt; one supported Python range everywhere it is stated."""

import re
import tomllib

from stage_runs import PROJECT

# moto: the S3 API server the bucket tests start
DEV_TOOLS = {"pytest", "ruff", "import-linter", "selenium", "moto"}


def pinned(path):
    names = set()
    for line in (PROJECT / path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[=<>~!\[ ]", line, maxsplit=1)[0].lower())
    return names


def test_runtime_requirements_carry_no_test_or_lint_tool():
    runtime = pinned("requirements.txt")
    assert {"apache-airflow", "tensorflow-cpu", "keras"} <= runtime
    assert not runtime & DEV_TOOLS, runtime & DEV_TOOLS


def test_development_requirements_are_the_runtime_ones_plus_the_tools():
    lines = (PROJECT / "requirements-dev.txt").read_text().splitlines()
    assert "-r requirements.txt" in lines
    assert pinned("requirements-dev.txt") == DEV_TOOLS


def test_the_production_image_installs_the_runtime_requirements_only():
    dockerfile = (PROJECT / "Dockerfile").read_text()
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs and all("-r requirements.txt" in line for line in installs)
    assert "requirements-dev" not in dockerfile


def test_the_readme_the_setup_script_and_the_package_state_one_python_range():
    requires = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"
    assert "(3, 11) <= sys.version_info[:2] <= (3, 13)" in (PROJECT / "scripts" / "env.sh").read_text()
    assert "Python 3.11–3.13" in (PROJECT / "README.md").read_text()
    assert "3.10" not in (PROJECT / "README.md").read_text()
    assert "IMDB_REQUIREMENTS=requirements-dev.txt" in (PROJECT / "scripts" / "test.sh").read_text()
