"""The code keeps its shape: ruff's lint and format, and the import contracts of pyproject.toml
(the library never imports Airflow, no cycles between its modules, thin DAG files); and the docs
cite tests that exist."""

import ast
import os
import re
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
    assert tool, f"{command[0]} is not installed: it is in requirements-dev.txt (scripts/test.sh installs it)"
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


DOCS = [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]
# A test file (tests/test_x.py or test_x.py), a test in it (test_x.py::test_y), or another test in
# the file last named on the same line (`::test_z`, as the tables write it).
CITATION = re.compile(r"(?:tests/)?\b(test_\w+\.py)(?:::(\w+))?|`::(\w+)")


def cited_tests():
    """(where, file, test or None) for every test file and test the docs name."""
    for doc in DOCS:
        for number, line in enumerate(doc.read_text().splitlines(), start=1):
            file = None
            for match in CITATION.finditer(line):
                file = match[1] or file
                yield f"{doc.relative_to(PROJECT)}:{number}", file, match[2] or match[3]


def collected_tests(path: Path) -> set[str]:
    """The test functions pytest collects from a module: top level, or methods of Test classes."""
    tree = ast.parse(path.read_text())
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            functions += [item for item in node.body if isinstance(item, ast.FunctionDef)]
    return {function.name for function in functions if function.name.startswith("test")}


def test_every_test_the_docs_cite_exists():
    citations = list(cited_tests())
    assert sum(name is not None for *_, name in citations) > 0  # the pattern finds the docs' citations
    test_files = {path.name: path for path in (PROJECT / "tests").rglob("test_*.py")}  # names are unique
    stale = []
    for where, file, name in citations:
        if file is None:
            stale.append(f"{where}: ::{name} follows no test file on its line")
        elif file not in test_files:
            stale.append(f"{where}: {file} is not a file under tests/")
        elif name is not None and name not in collected_tests(test_files[file]):
            stale.append(f"{where}: {file}::{name} is not a test in {test_files[file].relative_to(PROJECT)}")
    assert not stale, "the docs cite tests that do not exist:\n" + "\n".join(stale)
