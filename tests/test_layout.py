"""The package's layering: imports between subpackages point one way, modules stay small.

Order, lowest first: records, errors and files, layers, spec, analysis, serve, model, train,
commands. A module may import its own subpackage and any below it (and api.py only from
commands/ and __init__).

No import cycle, even inside a folder, counting imports inside functions too: an import moved
into a function to dodge a cycle still makes one.

Imports sit at the top of a module. A cnncli module may be imported inside a function only to
defer a heavy library, for one of these reasons:
- in commands/: the CLI imports a command's machinery when the command runs, so `cnncli
  --help` and the static commands start without torch;
- in cnncli/__init__: the library's face (api) loads on first use, so the command line, which
  imports the package first, starts without it;
- in a layer's `build`: a layer's torch module exists only when a model is built;
- the imported module loads torch, matplotlib, onnx, PIL or rich (at its top or through its
  own imports) and the importing module does not: the function that needs it pays for it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cnncli"
LAYERS = ["records", "errors", "files", "layers", "onnxin", "spec", "analysis", "serve", "model",
          "train", "commands"]
MAX_LINES = 400
#: modules allowed past MAX_LINES, each with its reason
#: the libraries worth deferring into a function (what makes a module slow to import)
HEAVY = ("torch", "matplotlib", "onnx", "onnxruntime", "onnxscript", "PIL", "rich", "numpy")
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


# -- the module graph: cycles and imports inside functions ------------------------------------

def module_name(path: Path) -> str:
    """cnncli/spec/load.py -> cnncli.spec.load; a package's __init__ -> the package."""
    name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return name.removesuffix(".__init__")


SOURCES = {module_name(p): p for p in MODULES}


def targets(module: str, node: ast.Import | ast.ImportFrom, is_package: bool) -> list[str]:
    """The modules an import statement loads: `from ..model import checkpoint` loads the
    module cnncli.model.checkpoint; `from ..layers import REGISTRY` the package cnncli.layers."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1] if node.level else []
    target = ".".join(base + ([node.module] if node.module else []))
    return [f"{target}.{a.name}" if f"{target}.{a.name}" in SOURCES else target
            for a in node.names]


def imports_of(module: str, source: str) -> list[tuple[int, str, str | None]]:
    """(line, module, enclosing function or None) for every import statement in a module."""
    is_package = SOURCES.get(module, Path()).name == "__init__.py"
    found: list[tuple[int, str, str | None]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) == "TYPE_CHECKING":
                continue  # imports for annotations only: nothing is loaded
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((child.lineno, t, function)
                             for t in targets(module, child, is_package))
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                else function
            visit(child, inner)

    visit(ast.parse(source), None)
    return found


GRAPH = {m: imports_of(m, p.read_text()) for m, p in SOURCES.items()}


def loads(module: str) -> set[str]:
    """Every library and cnncli module that importing `module` loads (parent packages too)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            step = ".".join(parts[:i])
            if step in seen:
                continue
            seen.add(step)
            todo += [t for _, t, function in GRAPH.get(step, []) if function is None]
    return seen


def heavy(module: str) -> set[str]:
    return {name.split(".")[0] for name in loads(module)} & set(HEAVY)


def deferral_problems(module: str, found: list[tuple[int, str, str | None]] | None = None
                      ) -> list[str]:
    """Each import of a cnncli module inside a function that defers no heavy library
    (`found`: the module's imports, by default read from its file)."""
    if module.startswith("cnncli.commands") or module in ("cnncli", "cnncli.__main__"):
        return []  # the CLI's lazy commands; the script imports the CLI after gc.disable()
    mine, wrong = heavy(module), []
    for line, target, function in GRAPH[module] if found is None else found:
        if function is None or not target.startswith("cnncli"):
            continue
        if function == "build" and module.startswith("cnncli.layers."):
            continue  # a layer's torch module, built only with a model
        if not heavy(target) - mine:
            wrong.append(f"line {line}: {target} inside {function}() defers nothing heavy; "
                         "import it at the top")
    return wrong


def cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module, or a module importing
    itself (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, []):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in graph.get(node, []):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_no_import_cycle() -> None:
    edges = {m: sorted({t for _, t, _ in found if t in SOURCES}) for m, found in GRAPH.items()}
    assert cycles(edges) == []


@pytest.mark.parametrize("module", sorted(SOURCES))
def test_imports_inside_functions_defer_something_heavy(module: str) -> None:
    assert deferral_problems(module) == []


def test_the_checks_see_cycles_and_needless_deferrals() -> None:
    assert cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
    assert cycles({"a": ["a"], "b": []}) == [["a"]]
    assert cycles({"a": ["b"], "b": []}) == []
    assert "torch" in heavy("cnncli.model.build") and not heavy("cnncli.spec.load")
    assert not heavy("cnncli.analysis.analyze")  # the static commands never load torch
    source = ("def run():\n    from ..spec.load import load\n"
              "def build_model():\n    from ..model.build import build_from_analysis\n")
    assert deferral_problems("cnncli.analysis.report",
                             imports_of("cnncli.analysis.report", source)) == [
        "line 2: cnncli.spec.load inside run() defers nothing heavy; import it at the top"]
    assert deferral_problems("cnncli.train.run", imports_of("cnncli.train.run", source)) == [
        "line 2: cnncli.spec.load inside run() defers nothing heavy; import it at the top",
        "line 4: cnncli.model.build inside build_model() defers nothing heavy; import it at "
        "the top"]
    assert deferral_problems("cnncli.commands.train", imports_of("cnncli.commands.train",
                                                                 source)) == []
