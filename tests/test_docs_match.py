"""The documentation says what the code holds: every subpackage's docstring lists its modules, and every name and
parameter docs/python.md documents exists with that signature."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = sorted(path.parent for folder in ("bark_clone", "quantizer") for path in (REPO / folder).rglob("__init__.py")
                  if path.parent.name != "bark_clone")


@pytest.mark.parametrize("package", PACKAGES, ids=lambda path: str(path.relative_to(REPO)))
def test_every_subpackage_docstring_lists_its_modules(package):
    docstring = importlib.import_module(".".join(package.relative_to(REPO).parts)).__doc__ or ""
    listed = set(re.findall(r"^- ``(\w+)``", docstring, flags=re.MULTILINE))
    modules = {path.stem for path in package.glob("*.py") if path.stem != "__init__"}
    assert listed == modules, f"missing {sorted(modules - listed)}, not there {sorted(listed - modules)}"


def documented_calls() -> list[tuple[str, str, list[str]]]:
    """``name(parameters)`` in docs/python.md's signature lines: (module, name, parameter names)."""
    text = (REPO / "docs" / "python.md").read_text(encoding="utf-8")
    calls = []
    for module, name, parameters in re.findall(r"^`(bark_clone[\w.]*)\.(\w+)\(([^`]*)\)`$", text, flags=re.MULTILINE):
        names = [part.strip().split("=")[0].split(":")[0].strip().lstrip("*") for part in parameters.split(",")]
        calls.append((module, name, [part for part in names if part and part != "/"]))
    return calls


def test_docs_python_lists_signatures():
    assert len(documented_calls()) >= 10


@pytest.mark.parametrize("module, name, parameters", documented_calls(), ids=lambda item: str(item))
def test_each_documented_signature_matches_the_code(module, name, parameters):
    target = getattr(importlib.import_module(module), name)
    actual = [parameter.name for parameter in inspect.signature(target).parameters.values()
              if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)]
    assert parameters == actual, f"{module}.{name}: documented {parameters}, the code takes {actual}"
