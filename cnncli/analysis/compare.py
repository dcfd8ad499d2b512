"""`cnncli compare`: networks side by side, or one spec swept over parameter values."""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..layers import shape_text
from ..spec.variants import Swept
from . import figures
from .analyze import Analysis, Row, analyze
from .report import human, markdown_table, mib, rf_text
from .table import TextTable

SCHEMA = "cnncli.compare/1"
# column key -> (header, total's value); memory is params + buffers + activations, in bytes
METRICS: dict[str, tuple[str, Callable[[dict[str, Any]], int]]] = {
    "params": ("Params", lambda t: t["params"]),
    "macs": ("MACs", lambda t: t["macs"]),
    "flops": ("FLOPs", lambda t: t["flops"]),
    "activations": ("Activations", lambda t: t["activations"]),
    "memory": ("Memory", lambda t: t["param_bytes"] + t["buffer_bytes"] + t["activation_bytes"]),
}
MEMORY_NOTE = ("Memory: params + buffers + activations of one forward pass, in bytes "
               "(MiB = 2^20); (Nx): ratio to the first network.")


@dataclass
class Entry:
    """One network in the comparison: its label, how it was loaded, its analysis."""

    label: str
    spec: str
    overrides: dict[str, str]
    analysis: Analysis
    values: dict[str, int] = field(default_factory=dict)
    time_ms: float | None = None  # compare --time: the predicted forward time

    def __post_init__(self) -> None:
        totals = self.analysis.totals()
        self.values = {key: get(totals) for key, (_, get) in METRICS.items()}


def split_values(text: str) -> list[str]:
    """'8,16,32' -> ['8', '16', '32']; commas inside [...] stay (depths=[2,2],[3,3])."""
    values, depth, current = [], 0, ""
    for ch in text:
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += ch
    values.append(current.strip())
    return values


def parse_sweeps(sweeps: tuple[str, ...], fixed: dict[str, str]) -> list[dict[str, str]]:
    """--sweep NAME=V1,V2 options to the grid of their values (one dict per point)."""
    axes: dict[str, list[str]] = {}
    for sweep in sweeps:
        name, sep, text = sweep.partition("=")
        name = name.strip()
        values = split_values(text)
        if not sep or not name or not all(values):
            raise UsageError(f"--sweep {sweep!r}: write NAME=V1,V2,..., e.g. --sweep width=8,16")
        if name in axes or name in fixed:
            raise UsageError(f"--sweep {name} is given twice (or also with --set)")
        axes[name] = values
    return [dict(zip(axes, point)) for point in itertools.product(*axes.values())]


def entries(specs: tuple[str, ...], fixed: dict[str, str], sweeps: tuple[str, ...],
            input_shape: str | None, batch: int, dtype: str) -> list[Entry]:
    grid = parse_sweeps(sweeps, fixed)
    out = []
    for spec in specs:
        for point in grid:
            label = " ".join([spec] * (len(specs) > 1 or not point)
                             + [f"{k}={v}" for k, v in point.items()])
            swept = {k: Swept(v) for k, v in point.items()}  # errors name --sweep
            a = analyze(spec, overrides={**fixed, **swept}, input=input_shape, batch=batch,
                        dtype=dtype)
            out.append(Entry(label, spec, point, a))
    if len(out) < 2:
        raise UsageError("compare needs two networks or more: give two specs, or one spec "
                         "with --sweep NAME=V1,V2")
    return out


def ratio(value: float, first: float) -> str:
    return f"{value / first:.2f}x" if first else "—"


SORT_KEYS = (*METRICS, "time")


def ranked(items: list[Entry], key: str) -> list[Entry]:
    """The entries smallest first by one total, or by predicted time (stable: ties keep
    the order given)."""
    return sorted(items, key=lambda e: (e.time_ms or 0.0) if key == "time" else e.values[key])


# -- totals side by side ---------------------------------------------------------------------

TOTAL_COLUMNS = ("Network", "Input", "Output", "Params", "MACs", "FLOPs", "Activations",
                 "Memory", "RF/stride")
# Left out first in a narrow terminal: FLOPs is 2 x MACs, then what a comparison needs least;
# --time's column last of all: it is what was asked for.
TOTAL_DROP = ("FLOPs", "Input", "Output", "RF/stride", "Activations", "Memory", "Params")
TIME = "Time ms"


def total_columns(items: list[Entry]) -> list[str]:
    """The totals' columns; with compare --time, the predicted time last."""
    return [*TOTAL_COLUMNS, *([TIME] if items[0].time_ms is not None else [])]


def total_cells(items: list[Entry]) -> list[list[str]]:
    first = items[0].values
    cells = []
    for e in items:
        a, v = e.analysis, e.values
        shown = [f"{v[k]:,} ({ratio(v[k], first[k])})" for k in ("params", "macs", "flops",
                                                                 "activations")]
        cells.append([e.label, shape_text(a.input), output_cell(a), *shown,
                      f"{mib(v['memory'])} ({ratio(v['memory'], first['memory'])})",
                      rf_text(a.root)])
        if e.time_ms is not None:
            cells[-1].append(f"{e.time_ms:.3f} ({ratio(e.time_ms, items[0].time_ms or 0)})")
    return cells


def output_cell(a: Any) -> str:
    """The output shape; for a network with several named outputs, each one's, in order."""
    named = a.network.outputs
    return ", ".join(shape_text(n.output) for n in named.values()) if named else \
        shape_text(a.output)


def record(e: Entry, first: Entry) -> dict[str, Any]:
    a = e.analysis
    named = a.network.outputs
    return {"label": e.label, "spec": e.spec, "overrides": e.overrides, "name": a.network.name,
            "input": list(a.input), "output": list(a.output), "batch": a.batch,
            **({"outputs": {k: list(n.output) for k, n in named.items()}} if named else {}),
            "dtype": a.dtype, **e.values, "memory_bytes": e.values["memory"],
            "rf": list(a.root.rf.size), "rf_stride": list(a.root.rf.jump),
            "ratios": {k: round(e.values[k] / first.values[k], 6) if first.values[k] else None
                       for k in METRICS},
            **({"time_ms": e.time_ms} if e.time_ms is not None else {})}


# -- rows aligned by path (--depth) ----------------------------------------------------------

def aligned(items: list[Entry], depth: int) -> tuple[bool, list[str], list[dict[str, Row]]]:
    """(by path?, row keys, per network key -> row): by path when the networks share
    paths at this depth (resnet18 and resnet34 share layer1..layer4), else by position."""
    frontiers = [list(e.analysis.root.frontier(depth)) for e in items]
    shared = set.intersection(*({r.path for r in rows} for rows in frontiers))
    if not shared:
        n = max(len(rows) for rows in frontiers)
        keys = [str(i) for i in range(n)]
        return False, keys, [{str(i): r for i, r in enumerate(rows)} for rows in frontiers]
    keys: list[str] = []
    for rows in frontiers:
        at = 0
        for r in rows:
            if r.path in keys:
                at = keys.index(r.path) + 1
            else:
                keys.insert(at, r.path)
                at += 1
    return True, keys, [{r.path: r for r in rows} for rows in frontiers]


def row_columns(items: list[Entry], by_path: bool) -> list[str]:
    """By path: Layer, then each network's params and MACs (and MACs as a ratio to the
    first's); by position: #, each network's layer, then each network's params and MACs."""
    cols = ["Layer"] if by_path else ["#", *(e.label for e in items)]
    for i, e in enumerate(items):
        cols += [f"{e.label} params", f"{e.label} MACs"]
        if i and by_path:
            cols.append(f"{e.label} MACs (x)")
    return cols


def row_cells(items: list[Entry], depth: int) -> tuple[list[str], list[list[str]], int]:
    """Columns, cells and the first numeric column of the by-layer table."""
    by_path, keys, maps = aligned(items, depth)
    cells = []
    for key in keys:
        rows = [m.get(key) for m in maps]
        line = [key] if by_path else [key, *(f"{r.path} ({r.kind})" if r else "" for r in rows)]
        first = rows[0]
        for i, (e, r) in enumerate(zip(items, rows)):
            line += [f"{r.params:,}", f"{r.macs * e.analysis.batch:,}"] if r else ["", ""]
            if i and by_path:
                line.append(ratio(r.macs, first.macs) if r and first else "")
        cells.append(line)
    return row_columns(items, by_path), cells, 1 if by_path else 1 + len(items)


def row_records(items: list[Entry], depth: int) -> list[dict[str, Any]]:
    by_path, keys, maps = aligned(items, depth)
    return [{"key": key, "aligned_by": "path" if by_path else "position",
             "networks": [{"path": r.path, "type": r.kind, "output": list(r.output),
                           "params": r.params, "macs": r.macs * e.analysis.batch}
                          if (r := rows.get(key)) else None for e, rows in zip(items, maps)]}
            for key in keys]


# -- renderers -------------------------------------------------------------------------------

def compare_renderables(items: list[Entry], depth: int | None) -> list[Any]:
    out: list[Any] = [TextTable(f"Compared with {items[0].label}", total_columns(items),
                                total_cells(items), 3, drop=TOTAL_DROP)]
    if depth is not None:
        cols, cells, numeric = row_cells(items, depth)
        # params go first in a narrow terminal, then the later networks' MACs from the right
        drop = [c for c in cols if c.endswith(" params")][::-1] + cols[:0:-1]
        out.append(TextTable(f"By layer (depth {depth})", cols, cells, numeric,
                             drop=list(dict.fromkeys(drop))))
    return [*out, MEMORY_NOTE]


def compare_markdown(items: list[Entry], depth: int | None) -> str:
    parts = [markdown_table(total_columns(items), total_cells(items), 3)]
    if depth is not None:
        cols, cells, numeric = row_cells(items, depth)
        parts.append(markdown_table(cols, cells, numeric))
    return "\n\n".join([*parts, MEMORY_NOTE]) + "\n"


def compare_json(items: list[Entry], depth: int | None) -> str:
    doc: dict[str, Any] = {"schema": SCHEMA, "networks": [record(e, items[0]) for e in items]}
    if depth is not None:
        doc["rows"] = row_records(items, depth)
    return json.dumps(doc, indent=2)


CSV_FIELDS = ("label", "spec", "input", "output", "params", "macs", "flops", "activations",
              "memory_bytes", "rf", "rf_stride", "params_ratio", "macs_ratio", "flops_ratio",
              "activations_ratio", "memory_ratio")


def compare_csv(items: list[Entry]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for e in items:
        rec = record(e, items[0])
        rec.update({f"{k}_ratio": v for k, v in rec["ratios"].items()})
        for key in ("input", "output", "rf", "rf_stride"):
            rec[key] = shape_text(rec[key])
        writer.writerow(rec)
    return out.getvalue()


# -- plot ------------------------------------------------------------------------------------

def parse_axes(text: str) -> tuple[str, str]:
    x, sep, y = text.partition(",")
    if not sep or x not in METRICS or y not in METRICS:
        raise UsageError(f"--axes {text!r}: write X,Y from {', '.join(METRICS)}, "
                         "e.g. --axes params,macs")
    return x, y


def plot(items: list[Entry], target: Path, axes: tuple[str, str]) -> Path:
    """Each network as a labelled point, e.g. params against MACs."""
    if target.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise UsageError(f"--plot {target}: write a .png, .svg or .pdf file")
    if not target.parent.is_dir():
        raise UsageError(f"--plot {target}: folder {target.parent} does not exist")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("plots need matplotlib: pip install 'cnncli[plot]'") from None

    x, y = axes
    points = [(e.label, e.values[x], e.values[y]) for e in items]
    figures.scatter(points, (f"{METRICS[x][0]} ({_unit(x)})", f"{METRICS[y][0]} ({_unit(y)})"),
                    plot_title(items, axes), target)
    return target


def plot_title(items: list[Entry], axes: tuple[str, str]) -> str:
    """'MACs against Params', then what is compared: the networks, or the swept values."""
    x, y = axes
    names = list(dict.fromkeys(e.analysis.network.name for e in items))
    swept = list(dict.fromkeys(k for e in items for k in e.overrides))
    what = (f"{names[0]} over {', '.join(swept)}" if len(names) == 1 and swept
            else ", ".join(names) if len(names) <= 6 else f"{len(names)} networks")
    inputs = list(dict.fromkeys(shape_text(e.analysis.input) for e in items))
    a = items[0].analysis
    shown = f"input {inputs[0]}" if len(inputs) == 1 else "each at its own input size"
    return f"{METRICS[y][0]} against {METRICS[x][0]}: {what}\n{shown}, batch {a.batch}, {a.dtype}"


def _unit(key: str) -> str:
    return "bytes" if key == "memory" else "count"


def plot_note(items: list[Entry], target: Path, axes: tuple[str, str]) -> str:
    x, y = axes
    spans = ", ".join(f"{METRICS[k][0]} {human(min(e.values[k] for e in items))}–"
                      f"{human(max(e.values[k] for e in items))}" for k in (x, y))
    return f"wrote {target}: {len(items)} networks, {spans}"
