"""What the playground asks of the analysis, as plain functions: a request's fields in, a
JSON-ready answer out. They run inside the worker process (worker.py), never in the server.

Every answer about a spec is built from what `cnncli summary --format json` prints
(report.summary_json), so the page's totals are the CLI's by construction. A bad spec is an
answer too: {"error": {"message", "line", "col", "file", "path"}}, the CLI's own sentence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..analysis import compare as cmp
from ..analysis import diagram as dg
from ..analysis import explain as ex
from ..analysis import report
from ..analysis.analyze import DTYPE_BYTES, Analysis, analyze_network
from ..errors import CnncliError, UsageError
from ..spec.eject import standalone_text
from ..spec.load import load_file
from ..spec.zoo import find, suggest, zoo_entries

#: the largest batch the page may ask for (the analysis scales by it; any int would do, but a
#: typo of 10**12 is better refused than multiplied into every figure)
MAX_BATCH = 1 << 20


@dataclass(frozen=True)
class Setup:
    """What the server was started with: the editor's file name (its folder is where
    includes may come from, with the zoo's) and those folders."""

    name: str
    roots: tuple[str, ...]


def load_request(setup: Setup, req: dict[str, Any], text_key: str = "spec") -> Analysis:
    """The analysis of the request's spec text with its --set values, input and batch."""
    text = req.get(text_key)
    if not isinstance(text, str):
        raise UsageError(f"the request has no spec text ({text_key!r})")
    sets = req.get("set") or {}
    if not isinstance(sets, dict):
        raise UsageError("set must map parameter names to values")
    batch = req.get("batch", 1)
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= MAX_BATCH:
        raise UsageError(f"batch must be a whole number from 1 to {MAX_BATCH:,}")
    dtype = req.get("dtype", "fp32")
    if dtype not in DTYPE_BYTES:
        raise UsageError(f"dtype must be one of {', '.join(DTYPE_BYTES)}")
    shape = req.get("input") or None
    network = load_file(setup.name, None, {str(k): str(v) for k, v in sets.items()},
                        shape, text=text, roots=setup.roots)
    return analyze_network(network, batch=batch, dtype=dtype)


def depth_of(req: dict[str, Any]) -> int | None:
    depth = req.get("depth")
    if depth is None or (isinstance(depth, int) and not isinstance(depth, bool) and depth >= 1):
        return depth
    raise UsageError("depth must be a whole number from 1, or none for every layer")


def analysis(setup: Setup, req: dict[str, Any]) -> dict[str, Any]:
    """The summary document, the table's cells as the CLI prints them, the totals' lines,
    the declared parameters (for sliders), each drawn node's figures (for colours) and the
    diagram with the blocks the page has open."""
    a = load_request(setup, req)
    depth = depth_of(req)
    opened = req.get("open")
    drawing = dg.svg(a, depth, _opener(depth, opened) if isinstance(opened, list) else None)
    return {
        "summary": json.loads(report.summary_json(a, depth)),
        "columns": list(report.SUMMARY_COLUMNS),
        "cells": report.summary_cells(a, depth),
        "totals": [list(line) for line in report.totals_lines(a)],
        "note": report.NOTE,
        "params": declared(a),
        "nodes": {row.path: {"macs": row.macs * a.batch, "params": row.params,
                             "memory": row.activations * a.batch * DTYPE_BYTES[a.dtype],
                             "block": bool(row.children)} for row in a.root.walk()},
        "max_depth": max((row.depth for row in a.root.walk()), default=1),
        "svg": drawing,
    }


def _opener(depth: int | None, opened: list[Any]) -> Any:
    """Blocks open as at `depth`, toggled by the page: a path in `opened` flips its block."""
    flipped = {p for p in opened if isinstance(p, str)}
    by_depth = dg.open_to(depth)
    return lambda n: by_depth(n) != (n["path"] in flipped)


def declared(a: Analysis) -> list[dict[str, Any]]:
    """The spec's parameters as the page's inputs: name, value in force, and its kind
    (a slider for a whole number, a box for anything else)."""
    out = []
    for name, value in a.network.params.items():
        kind = "bool" if isinstance(value, bool) else "int" if isinstance(value, int) else \
            "number" if isinstance(value, float) else "text"
        out.append({"name": name, "value": value if kind != "text" else json.dumps(value),
                    "kind": kind})
    return out


def explain(setup: Setup, req: dict[str, Any]) -> dict[str, Any]:
    """Every figure of one layer or block with its formula, as `cnncli explain SPEC PATH`."""
    a = load_request(setup, req)
    path = req.get("path")
    if not isinstance(path, str):
        raise UsageError("explain needs a layer path")
    return json.loads(ex.explain_json(a, ex.find_rows(a, (path,))))


def compare(setup: Setup, req: dict[str, Any]) -> dict[str, Any]:
    """The spec beside a zoo network (`zoo`) or an earlier text of itself (`previous`), as
    `cnncli compare OTHER SPEC --format json --depth 1` gives them: ratios are to the other."""
    mine = load_request(setup, req)
    zoo = req.get("zoo")
    if isinstance(zoo, str) and zoo:
        entry = find(zoo)
        if entry is None:
            raise UsageError(f"no zoo network named {zoo!r}{suggest(zoo)}")
        other = analyze_network(load_file(str(entry.file), entry.variant), batch=mine.batch,
                                dtype=mine.dtype)
        label = entry.name
    else:
        other = load_request(setup, req, "previous")
        label = "previous version"
    items = [cmp.Entry(label, label, {}, other), cmp.Entry("this spec", "editor", {}, mine)]
    return json.loads(cmp.compare_json(items, 1))


def export(setup: Setup, req: dict[str, Any]) -> dict[str, Any]:
    """The summary as CSV or Markdown text, as `cnncli summary -f csv|markdown` writes it."""
    a = load_request(setup, req)
    fmt = req.get("format")
    if fmt == "csv":
        return {"text": report.summary_csv(a, depth_of(req))}
    if fmt == "markdown":
        return {"text": report.summary_markdown(a, depth_of(req))}
    raise UsageError("format must be csv or markdown")


def zoo(setup: Setup, req: dict[str, Any]) -> dict[str, Any]:
    """The zoo's names, or one network's spec as a file to edit (`cnncli spec NAME`)."""
    name = req.get("name")
    if not name:
        return {"names": sorted(zoo_entries())}
    entry, text = standalone_text(str(name))
    return {"name": entry.name, "text": text}


JOBS = {"analyze": analysis, "explain": explain, "compare": compare, "export": export,
        "zoo": zoo}


def run(setup: Setup, job: str, req: dict[str, Any]) -> dict[str, Any]:
    """One job's answer; a cnncli error becomes {"error": ...} with its place."""
    try:
        return JOBS[job](setup, req)
    except CnncliError as exc:
        return {"error": error_record(exc)}


def error_record(exc: CnncliError) -> dict[str, Any]:
    mark = exc.mark
    return {"message": str(exc), "line": mark.line if mark else None,
            "col": mark.col if mark else None, "file": mark.file if mark else None,
            "path": exc.path}
