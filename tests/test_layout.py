"""The package's layering: imports between subpackages point one way, modules stay small.

Order, lowest first: errors, layers, spec, analysis, model, train, commands. A module may
import its own subpackage and any below it (and api.py only from commands/ and __init__).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cnncli"
LAYERS = ["errors", "layers", "spec", "analysis", "model", "train", "commands"]
MAX_LINES = 520
MODULES = sorted(PACKAGE.rglob("*.py"))


def part_of(module: str) -> str:
    """'cnncli.spec.load' -> 'spec'; top-level modules are parts of their own."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported_modules(module: str, source: str) -> list[tuple[int, str]]:
    """(line, absolute module) for every cnncli import in a module, relative ones resolved."""
    package = module.split(".")[:-1]  # a package's __init__ counts as inside the package
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
            found += [(node.lineno, n) for n in names if n.startswith("cnncli")]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("cnncli")]
    return found


def upward_imports(module: str, source: str) -> list[str]:
    """Each import of `module` that points up the layers, as 'line N: what and why'."""
    mine = part_of(module)
    if mine in ("__init__", "__main__", "api"):
        return []  # the top: the public face imports what it offers
    wrong = []
    for line, target in imported_modules(module, source):
        theirs = part_of(target)
        if theirs.startswith("__"):
            continue  # cnncli itself (__version__)
        if theirs == "api":
            if mine != "commands":
                wrong.append(f"line {line}: only commands/ may import cnncli.api")
        elif LAYERS.index(theirs) > LAYERS.index(mine):
            wrong.append(f"line {line}: {mine}/ may not import {target}: {theirs}/ sits above it")
    return wrong


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    assert upward_imports(module, path.read_text()) == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines; split it"


def test_the_check_sees_upward_imports() -> None:
    source = "from ..analysis import report\nfrom ..api import analyze\nfrom .base import Arg\n"
    assert upward_imports("cnncli.layers.conv", source) == [
        "line 1: layers/ may not import cnncli.analysis: analysis/ sits above it",
        "line 2: only commands/ may import cnncli.api"]
    assert upward_imports("cnncli.train.run", "from ..analysis import report\n") == []


def test_every_package_docstring_names_its_modules() -> None:
    """A package's docstring is its map: each module in it is named there."""
    for init in sorted(PACKAGE.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        modules = [p.stem for p in init.parent.glob("*.py") if p.stem != "__init__"]
        missing = [m for m in modules if not re.search(rf"\b{m}\b", doc)]
        assert not missing, f"{init.relative_to(PACKAGE.parent)} does not name {missing}"
