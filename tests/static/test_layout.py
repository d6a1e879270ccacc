"""The layout shows the design: the package grouped by job, every import arrow pointing down,
no two modules sharing a file name, the API importing no part of the training stack, and the
benchmark importing nothing from the tests.

The layers of taller_mlflow/, lowest first (a module may import its own layer and those below):

    settings, penguins, stage     the vocabulary every part shares
    mlflow_setup                  MLflow's client, for the processes that use MLflow
    serving                       the API's core: no MLflow, no scikit-learn
    monitoring                    the prediction log (used by the API) and the drift job
    promotion                     the gate, its artifact, its lease, rollback
    training                      data, pipeline, tracked search; promotes through the gate
    batch                         a table scored with a verified graph, here or on Dask
    local                         what `make run` starts and supervises
    backup                        make backup / make restore: archives the stores of any path
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = ("taller_mlflow", "app", "bench")
DUNDER = {"__init__.py", "__main__.py"}
LAYERS = [
    "base",
    "mlflow_setup",
    "serving",
    "monitoring",
    "promotion",
    "training",
    "batch",
    "local",
    "backup",
]
BASE = {"settings", "penguins", "stage"}
SHIMS = {"train": "training", "promote": "promotion", "monitor": "monitoring"}
# What the API may import from the package: its serving core, the prediction log, the vocabulary.
APP_ALLOWED = {"base", "serving", "monitoring"}


def layer_of(module: str) -> str | None:
    """The layer of a taller_mlflow module (dotted name), None for anything else."""
    parts = module.split(".")
    if parts[0] != "taller_mlflow":
        return None
    if len(parts) == 1 or parts[1] in BASE or parts[1] not in {*LAYERS, *SHIMS}:
        return "base"  # the package root and its attributes (__version__)
    if parts[1] in SHIMS:
        return SHIMS[parts[1]]
    return parts[1]


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module this file imports, at any depth (lazy imports inside functions too)."""
    found = set()
    package = module_name(path).rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def test_no_two_modules_share_a_file_name():
    seen: dict[str, list[str]] = {}
    for folder in PACKAGE_DIRS:
        for path in python_files(folder):
            if path.name not in DUNDER:
                seen.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    shared = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not shared, f"module file names used more than once: {shared}"


def test_the_package_is_grouped_by_job():
    top = {p.name for p in (ROOT / "taller_mlflow").iterdir() if p.suffix == ".py"}
    assert top - DUNDER == {f"{m}.py" for m in BASE | {"mlflow_setup"} | set(SHIMS)}
    folders = {p.name for p in (ROOT / "taller_mlflow").iterdir() if (p / "__init__.py").exists()}
    assert folders == set(LAYERS) - {"base", "mlflow_setup"}


@pytest.mark.parametrize("path", python_files("taller_mlflow"), ids=str)
def test_no_import_arrow_goes_back_up(path):
    own = layer_of(module_name(path))
    upward = sorted(
        target
        for target in imports_of(path)
        if (layer := layer_of(target)) and LAYERS.index(layer) > LAYERS.index(own)
    )
    assert not upward, f"{own} imports from a higher layer: {upward}"


@pytest.mark.parametrize("path", python_files("app"), ids=str)
def test_the_api_imports_only_serving_monitoring_and_the_vocabulary(path):
    wrong = sorted(
        target
        for target in imports_of(path)
        if (layer := layer_of(target)) and layer not in APP_ALLOWED
    )
    assert not wrong, f"app/ imports {wrong}"


def test_the_benchmark_imports_nothing_from_the_tests():
    wrong = {
        str(path.relative_to(ROOT)): sorted(
            t for t in imports_of(path) if t == "tests" or t.startswith("tests.")
        )
        for path in python_files("bench")
    }
    assert not {k: v for k, v in wrong.items() if v}


CLASS_LINES = 120  # past this, a class is doing more than one job (issue 21: Gate was 154)


@pytest.mark.parametrize("path", python_files("taller_mlflow/promotion"), ids=str)
def test_no_promotion_class_is_over_120_lines(path):
    tree = ast.parse(path.read_text(), str(path))
    long = {
        node.name: node.end_lineno - node.lineno + 1
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > CLASS_LINES
    }
    assert not long, f"classes over {CLASS_LINES} lines: {long}"
