"""docs/layout.md describes the tree as it is: each package's row lists exactly the modules on disk
(library, plugin packages, the plugin entry file, DAG files), every DAG id is named, and no library
module sits outside the subpackages that the layers contract orders."""

import re
import tomllib

from stage_runs import PROJECT

LAYOUT = PROJECT / "docs" / "layout.md"
LIBRARY = PROJECT / "include" / "imdb_pipeline"
PLUGINS = PROJECT / "plugins"


def modules(folder):
    return {path.name for path in folder.rglob("*.py") if path.name != "__init__.py"}


def on_disk() -> dict[str, set[str]]:
    """Each package (as layout.md names its row) -> its module files, as the row writes them."""
    tree = {f"{path.name}/": modules(path) for path in LIBRARY.iterdir() if (path / "__init__.py").is_file()}
    tree |= {f"{path.name}/": modules(path) for path in PLUGINS.iterdir() if (path / "__init__.py").is_file()}
    tree |= {f"plugins/{path.name}": {path.name} for path in PLUGINS.glob("*.py")}
    tree["dags/"] = {f"dags/{name}" for name in modules(PROJECT / "dags")}
    return tree


def in_layout() -> dict[str, set[str]]:
    """Each row of layout.md's table of modules: its first cell -> the .py files its last cell lists."""
    rows = {}
    for line in LAYOUT.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 3:
            rows[cells[0].strip("`")] = set(re.findall(r"`([\w/]+\.py)`", cells[2]))
    return rows


def test_each_package_row_lists_exactly_its_modules():
    disk, layout = on_disk(), in_layout()
    missing = {package: sorted(names - layout.get(package, set())) for package, names in disk.items()}
    stale = {package: sorted(names - disk.get(package, set())) for package, names in layout.items()}
    missing, stale = ({k: v for k, v in found.items() if v} for found in (missing, stale))
    assert not missing, f"add these to docs/layout.md's table of modules: {missing}"
    assert not stale, f"docs/layout.md lists modules that do not exist: {stale}"


def test_every_dag_is_named():
    text = LAYOUT.read_text()
    for dag_file in (PROJECT / "dags").glob("imdb_*.py"):
        (dag_id,) = re.findall(r'dag_id="(\w+)"', dag_file.read_text())
        assert f"`{dag_id}`" in text, f"docs/layout.md does not name the DAG {dag_id}"


def test_library_modules_live_in_the_subpackages_the_layers_contract_orders():
    loose = sorted(path.name for path in LIBRARY.glob("*.py") if path.name != "__init__.py")
    assert not loose, f"move these into a subpackage (and say so in docs/layout.md): {loose}"
    config = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    ordered = set(re.findall(r"imdb_pipeline\.(\w+)", " ".join(layers)))
    subpackages = {path.name for path in LIBRARY.iterdir() if (path / "__init__.py").is_file()}
    assert subpackages == ordered, "every library subpackage is a layer of pyproject.toml's contract"
