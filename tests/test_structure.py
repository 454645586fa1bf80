"""The code's shape, as STYLE.md asks: short modules and functions, capability subpackages in layers that import
only downward (inside functions too), one direction between the packages, no import cycle (the bench included),
and a wheel without test code."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

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


# The layers of bark_clone, top first. A module imports only from its own layer's package or from layers below it,
# at the top of the file or inside a function alike; the shared root modules import only each other.
LAYERS = [
    {"cli"},
    {"server", "benchmark"},
    {"search", "clone"},
    {"evaluate", "training"},
    {"speaking"},
    {"voices"},
    {"bark"},
    {"prompting"},
    {"audio"},
    {"models"},
    {"constants", "datasets", "errors", "files", "options", "progress", "requests"},
]
RANK = {room: index for index, rooms in enumerate(LAYERS) for room in rooms}
FACADE = {"bark_clone", "bark_clone.__main__"}  # the public API and ``python -m``: above every layer


def imported_modules(source: str, package: str) -> set[str]:
    """Project modules that ``source`` (a module of ``package``) imports, at any depth, relative ones resolved."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def project_modules() -> dict[str, Path]:
    """Every module of the two packages by dotted name (a package by its own name), and the scripts by file stem."""
    modules = {}
    for package in ("bark_clone", "quantizer"):
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    modules.update({path.stem: path for path in (REPO / "scripts").glob("*.py")})
    return modules


def module_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (a name that is an attribute of a module counts as that module)."""
    modules = project_modules()
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        imported = imported_modules(path.read_text(encoding="utf-8"), package)
        graph[name] = {other for other in imported if other in modules and other != name}
    return graph


def room(module: str) -> str | None:
    """The layer a bark_clone module belongs to: its subpackage, or its own name at the root."""
    parts = module.split(".")
    return parts[1] if parts[0] == "bark_clone" and len(parts) > 1 else None


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import from a lower layer to a higher one (or sideways between two rooms of one layer)."""
    wrong = []
    for module, imported in graph.items():
        if module in FACADE or room(module) is None:
            continue
        for other in imported:
            if other == "bark_clone":
                wrong.append(f"{module} imports the package itself (the public API sits above every layer)")
            elif room(other) is not None and room(other) != room(module) and (
                    RANK[room(other)] < RANK[room(module)]
                    or RANK[room(other)] == RANK[room(module)] != len(LAYERS) - 1):  # the shared root: any order
                wrong.append(f"{module} -> {other}")
    return sorted(wrong)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> list[str] | None:
        state[name] = "open"
        for other in sorted(graph.get(name, ())):
            if state.get(other) == "open":
                return trail + [name, other]
            if other not in state and (cycle := visit(other, trail + [name])):
                return cycle
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state and (cycle := visit(name, [])):
            return cycle
    return None


def test_every_module_of_the_app_lives_in_a_known_layer():
    rooms = {room(name) for name in project_modules() if room(name) is not None and name not in FACADE}
    assert rooms == set(RANK), rooms ^ set(RANK)


def test_imports_follow_the_layers_inside_functions_too():
    assert layer_violations(module_graph()) == []


def test_an_import_against_the_layers_is_caught():
    """The check itself: one import moved against the layers (even inside a function) fails it."""
    graph = module_graph()
    assert "bark_clone.audio.sound" in graph and "bark_clone.speaking.longform" in graph
    moved = {**graph, "bark_clone.audio.sound": graph["bark_clone.audio.sound"] | {"bark_clone.speaking.longform"}}
    assert layer_violations(moved) == ["bark_clone.audio.sound -> bark_clone.speaking.longform"]
    source = "def late():\n    from ..speaking.longform import speak_long\n"
    assert "bark_clone.speaking.longform" in imported_modules(source, "bark_clone.audio")
    sideways = {**graph, "bark_clone.training.generate": {"bark_clone.evaluate.report"}}
    assert layer_violations(sideways) == ["bark_clone.training.generate -> bark_clone.evaluate.report"]


def test_no_import_cycle_anywhere():
    """bark_clone, quantizer and the scripts, imports inside functions included."""
    assert find_cycle(module_graph()) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_quantizer_never_imports_the_app():
    graph = module_graph()
    offenders = {name: sorted(other for other in imported if other.startswith("bark_clone"))
                 for name, imported in graph.items() if name.startswith("quantizer")}
    assert not {name: found for name, found in offenders.items() if found}


def test_wheel_holds_no_test_code(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("bark_clone-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for expected in ("bark_clone/cli/main.py", "quantizer/train.py", "bark_clone/server/web/index.html",
                     "bark_clone/training/texts/en.txt"):
        assert expected in names, expected
    roots = {name.split("/")[0] for name in names if not name.startswith("bark_clone-")}
    assert roots == {"bark_clone", "quantizer"}, roots
    assert not [name for name in names if "test" in Path(name).name.lower()]
