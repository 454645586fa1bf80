"""The code's shape, as STYLE.md asks: short modules and functions, one direction between the packages, no import
cycle, and a wheel without test code."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = [path for folder in ("bark_clone", "quantizer", "scripts", "tests")
           for path in sorted((REPO / folder).rglob("*.py"))]
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60


def test_modules_and_functions_are_short():
    long_modules, long_functions = [], []
    for path in SOURCES:
        source = path.read_text(encoding="utf-8")
        if len(source.splitlines()) > MAX_MODULE_LINES:
            long_modules.append(f"{path.relative_to(REPO)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}: {length} lines")
    assert not long_modules and not long_functions, long_modules + long_functions


def imported_modules(path: Path, package: str, top_level_only: bool) -> set[str]:
    """Modules of the project that ``path`` imports (relative imports resolved against ``package``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            base = f"{package}.{node.module}" if node.level == 1 and node.module else (
                package if node.level == 1 else node.module or "")
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] in ("bark_clone", "quantizer")}


def module_graph(package: str) -> dict[str, set[str]]:
    modules = {f"{package}.{path.stem}": path for path in (REPO / package).glob("*.py") if path.stem != "__init__"}
    return {name: {other for other in imported_modules(path, package, True) if other in modules}
            for name, path in modules.items()}


@pytest.mark.parametrize("package", ["bark_clone", "quantizer"])
def test_no_import_cycle(package):
    graph = module_graph(package)
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for other in sorted(graph[name]):
            assert state.get(other) != "open", "import cycle: " + " -> ".join(trail + [name, other])
            if other not in state:
                visit(other, trail + [name])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_quantizer_never_imports_the_app():
    offenders = {path.name: sorted(name for name in imported_modules(path, "quantizer", False)
                                   if name.startswith("bark_clone"))
                 for path in (REPO / "quantizer").glob("*.py")}
    assert not {name: found for name, found in offenders.items() if found}


def test_wheel_holds_no_test_code(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("bark_clone-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "bark_clone/cli.py" in names and "quantizer/train.py" in names and "bark_clone/web/index.html" in names
    roots = {name.split("/")[0] for name in names if not name.startswith("bark_clone-")}
    assert roots == {"bark_clone", "quantizer"}, roots
    assert not [name for name in names if "test" in Path(name).name.lower()]
