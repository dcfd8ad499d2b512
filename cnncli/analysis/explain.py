"""`cnncli explain`: the arithmetic behind every figure, with this network's numbers.

Each layer class explains its own figures (`Layer.explain`); this module adds what belongs
to the tree (receptive field, FLOPs, activations, sums of blocks, concat and add) and lays
it out. Every value shown is the analyzer's; a formula only shows where it comes from.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import UsageError, did_you_mean
from ..layers import shape_text
from ..layers.base import Figure, dot
from ..spec.ir import INPUT, Join, Residual, shown_path
from ..spec.zoo import zoo_dir
from .analyze import RF, Analysis, Row
from .lessons import Lesson, lessons
from .report import layer_label, reads, totals_lines
from .table import TextTable

SCHEMA = "cnncli.explain/1"
FORMATS = ("text", "json")


class Context:
    """What a row's figures need from around it: the receptive field its input already has,
    and its parent (a concat's join lists its branches). A row that reads a named output
    (graph form) starts from that output's receptive field."""

    def __init__(self, a: Analysis):
        self.starts: dict[str, RF] = {}
        self.parents: dict[str, Row] = {}
        self.made: dict[str, RF] = {INPUT: RF()}  # every output's receptive field, by path
        self._visit(a.root, RF())

    def _visit(self, row: Row, rf: RF) -> None:
        if row.node.sources and row.node.path == row.path and not isinstance(row.node, Join):
            rf = self.made[row.node.sources[0]]
        self.starts[row.path] = rf
        self.made[row.path] = row.rf
        prev = rf
        for child in row.children:
            self.parents[child.path] = row
            reads = child.node.sources if child.node.path == child.path else ()
            if child.role in ("branch", "shortcut") and not reads:
                self._visit(child, rf)  # branches and shortcuts all start from the input
            else:
                self._visit(child, prev)
                prev = child.rf

    def figures(self, row: Row) -> list[Figure]:
        return figures(row, self.starts[row.path], self.parents.get(row.path))


def figures(row: Row, start: RF, parent: Row | None) -> list[Figure]:
    """Every figure of one row: its own (layer or composite), then FLOPs, activations, RF."""
    own, rf_step = _own(row, parent)
    out = [*own]
    if row.macs:
        out.append(Figure("FLOPs", f"2 · {row.macs:,}", row.flops, "2 x MACs"))
    if row.is_layer or row.op:
        out.append(Figure("activations", dot(*row.output), row.activations,
                          "output elements kept for this row"))
    if rf_step is not None:
        out += _rf_figures(start, row.rf, *rf_step)
    return out


#: a layer's receptive-field window, stride and upsampling factor
Step = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]


def _own(row: Row, parent: Row | None) -> tuple[list[Figure], Step | None]:
    if isinstance(row.node, Join):
        return [_join(row, row.node)], None
    if row.is_layer:
        cost = row.cost
        assert cost is not None  # a layer row keeps its node's cost
        figures = row.layer.explain(row.input, cost)
        if row.owner is not None:
            figures = [_shared(f, row.owner.path) for f in figures]
        if cost.rf_global:
            return figures + _whole(row), None
        return figures, (cost.rf_kernel, cost.rf_stride, cost.rf_upsample)
    if row.op == "add":
        return [Figure("other ops", dot(*row.output), row.other_ops,
                       "one add per element: body + shortcut")], None
    if row.op == "mul":
        return [Figure("other ops", dot(*row.output), row.other_ops,
                       "one multiply per element: x times the gate's factor for its channel")
                ], None
    if row.op == "concat" and parent is not None:
        return [_concat_channels(row, parent)], None
    return _block(row), None


def _shared(figure: Figure, owner: str) -> Figure:
    """A weight count of a layer that uses `owner`'s weights (`shares:`): none of its own."""
    if figure.name not in ("params", "buffers"):
        return figure
    return Figure(figure.name, "0", 0, f"it uses {owner}'s {figure.value:,} "
                  f"({figure.formula}), counted there once")


def _join(row: Row, node: Join) -> Figure:
    """A join of named outputs: the channels it concatenates, or its elementwise ops."""
    if node.op == "concat" and node.axis:  # along another axis (YOLO's anchors)
        axis = node.axis
        names = ", ".join(shown_path(p) for p in node.sources)
        return Figure(f"output axis {axis}", " + ".join(str(s[axis]) for s in node.shapes),
                      row.output[axis], f"{names} joined along axis {axis}; the other axes "
                      "must agree")
    if node.op == "concat":
        return Figure("output channels", " + ".join(str(s[0]) for s in node.shapes),
                      row.output[0], "inputs joined along channels; H and W must agree")
    more = len(node.sources) - 1  # ops per element: one per input after the first
    return Figure("other ops", dot(*([more] if more > 1 else []), *row.output), row.other_ops,
                  f"one {'add' if node.op == 'add' else 'multiply'} per output element "
                  "for each input after the first")


def input_phrase(row: Row) -> str:
    """What a row reads: the input shape, and where it comes from when it reads named
    outputs (`input 8x32x32 (from up)`; a join: each input with its shape)."""
    node = row.node
    if isinstance(node, Join):
        return "inputs " + ", ".join(f"{shown_path(p)} {shape_text(s)}"
                                     for p, s in zip(node.sources, node.shapes))
    own = node.sources if node.path == row.path else ()
    where = f" (from {', '.join(shown_path(p) for p in own)})" if own else ""
    return f"input {shape_text(row.input)}{where}"


def _concat_channels(op: Row, parent: Row) -> Figure:
    branches = [r for r in parent.children if r.role == "branch"]
    return Figure("output channels", " + ".join(str(r.output[0]) for r in branches),
                  op.output[0], "branches joined along channels; H and W must agree")


def _block(row: Row) -> list[Figure]:
    """A composite's figures: sums over its children."""
    out = []
    for name, key in (("params", "params"), ("MACs", "macs"), ("other ops", "other_ops"),
                      ("activations", "activations")):
        parts = [getattr(c, key) for c in row.children if getattr(c, key)]
        if parts:
            out.append(Figure(name, " + ".join(f"{p:,}" for p in parts), getattr(row, key),
                              f"the sum over {len(row.children)} parts"))
    if isinstance(row.node, Residual):
        out.append(Figure("output channels", str(row.output[0]), row.output[0],
                          _residual_note(row)))
    return out


def _residual_note(row: Row) -> str:
    side = next((c for c in row.children if c.role == "shortcut"), None)
    if side is None:
        return "identity shortcut: the body keeps the shape, so the input is added as it is"
    return (f"the body maps {shape_text(row.input)} to {shape_text(side.output)}, so the "
            f"input cannot be added as it is; the shortcut ({side.kind}) maps it too, for "
            f"{side.params:,} params and {side.macs:,} MACs")


def _whole(row: Row) -> list[Figure]:
    """A layer whose every output reads every position (attention): the whole input."""
    h, w = row.rf.size
    note = "every token reads every token, so each sees the whole input"
    if h == w:
        return [Figure("receptive field", str(h), h, note)]
    return [Figure("receptive field H", str(h), h, note), Figure("receptive field W", str(w), w)]


def _rf_figures(start: RF, end: RF, kernel: tuple[int, int], stride: tuple[int, int],
                up: tuple[int, int]) -> list[Figure]:
    sizes = [f"{s} + ({k} − 1) · {j}" for s, k, j in zip(start.size, kernel, start.jump)]
    jumps = [f"{j} · {s}" + (f" / {u}" if u > 1 and j * s % u == 0 else "")
             for j, s, u in zip(start.jump, stride, up)]
    note = "input pixels one output sees: size + (window − 1) · jump"
    step = "cumulative stride: jump · stride" + (" / upsampling" if "/" in "".join(jumps)
                                                 else "")
    if sizes[0] == sizes[1] and jumps[0] == jumps[1]:
        return [Figure("receptive field", sizes[0], end.size[0], note),
                Figure("RF stride", jumps[0], end.jump[0], step)]
    return [Figure("receptive field H", sizes[0], end.size[0], note),
            Figure("receptive field W", sizes[1], end.size[1]),
            Figure("RF stride H", jumps[0], end.jump[0], step),
            Figure("RF stride W", jumps[1], end.jump[1])]


def find_rows(a: Analysis, paths: tuple[str, ...]) -> list[Row]:
    rows = {r.path: r for r in a.root.walk() if r.path}
    found = []
    for path in paths:
        if path not in rows:
            raise UsageError(f"{a.network.name} has no layer {path!r}"
                             f"{did_you_mean(path, rows)}; `cnncli summary` lists the paths")
        found.append(rows[path])
    return found


def where(place: object) -> str:
    """A file or file:line:col, relative to the working folder when inside it; a zoo file as
    `zoo:alexnet.yaml:11:5` (`cnncli spec alexnet` shows it), never an install path."""
    text = str(place)
    rel = os.path.relpath(text)
    zoo = str(zoo_dir()) + os.sep
    if rel.startswith("..") and text.startswith(zoo):
        return "zoo:" + text[len(zoo):]
    return text if rel.startswith("..") else rel


# -- text -----------------------------------------------------------------------------------

def figure_line(f: Figure) -> str:
    formula = "" if f.formula.replace(",", "") == str(f.value) else f"{f.formula} = "
    return f"{f.name} = {formula}{f.value:,}"


def row_text(row: Row, ctx: Context) -> list[str]:
    """One row in full: where it is written, what it takes and gives, every figure."""
    mark = row.node.mark
    head = f"{row.path} ({row.kind})" + (f"  {where(mark)}" if row.op is None else "")
    lines = [head, f"  {input_phrase(row)} → output {shape_text(row.output)}"]
    for f in ctx.figures(row):
        lines.append(f"  {figure_line(f)}")
        if f.note:
            lines.append(f"      {f.note}")
    if row.children:
        lines.append(f"  inside: {', '.join(c.path for c in row.children)}")
    return lines


def explain_rows(a: Analysis, rows: list[Row], timing: Any = None) -> list[str]:
    """Each row's figures with their formulas, as prose that wraps at the terminal; with
    `timing` (analysis.timing), the arithmetic of each one's predicted time."""
    ctx = Context(a)
    blocks = ["\n".join([*row_text(r, ctx),
                         *(timing.explain(r, a.batch) if timing is not None else [])])
              for r in rows]
    return [f"{a.network.name}: {where(a.network.source)}\n\n" + "\n\n".join(blocks)]


COMPACT_COLUMNS = ("Layer", "Type", "Output", "Params", "MACs")


def _compact_cell(row: Row, figs: list[Figure], name: str, value: int) -> str:
    f = next((f for f in figs if f.name == name), None)
    if f is None:
        return f"{value:,}" if value else ""
    return figure_line(f).split(" = ", 1)[1]


def compact_cells(a: Analysis, depth: int | None) -> list[list[str]]:
    ctx, shown = Context(a), reads(a.root, depth)
    cells = []
    for row in a.root.frontier(depth):
        figs = ctx.figures(row) if (row.is_layer or row.op) else []
        work = _compact_cell(row, figs, "MACs", row.macs)
        if not work and (row.is_layer or row.op):
            work = "—"
        cells.append([layer_label(row, shown), row.kind, shape_text(row.output),
                      _compact_cell(row, figs, "params", row.params), work])
    return cells


def lesson_lines(found: list[Lesson]) -> list[str]:
    if not found:
        return []
    lines = ["Design notes", ""]
    for lesson in found:
        lines.append(f"* {lesson.title}")
        lines += [f"  {text}" for text in lesson.lines]
        lines.append("")
    return lines


def explain_network(a: Analysis, depth: int | None) -> list[Any]:
    """The compact table (formulas wrap in a narrow terminal), the totals and design notes."""
    title = f"{a.network.name}: how each figure is computed ({where(a.network.source)})"
    table = TextTable(title, COMPACT_COLUMNS, compact_cells(a, depth), 3,
                      drop=("Type",), wrap=("Params", "MACs"))
    totals = [f" {k}: {v}" for k, v in totals_lines(a)[:8]]
    foot = [" — : no MACs; `cnncli explain SPEC PATH` shows every figure of a layer with its "
            "formula.", ""]
    return [table, "\n".join([*totals, *foot, *lesson_lines(lessons(a))])]


def explain_json(a: Analysis, rows: list[Row] | None, timing: Any = None) -> str:
    ctx = Context(a)
    shown = rows if rows is not None else [r for r in a.root.walk() if r.is_leaf]
    doc: dict[str, Any] = {"schema": SCHEMA, "name": a.network.name, "source": a.network.source,
                           "rows": []}
    for row in shown:
        doc["rows"].append({
            "path": row.path, "type": row.kind, "input": list(row.input),
            "output": list(row.output), "spec": where(row.node.mark),
            "figures": [{"name": f.name, "formula": f.formula, "value": f.value, "note": f.note}
                        for f in ctx.figures(row)]})
        if timing is not None:
            doc["rows"][-1]["time"] = timing.explain_record(row, a.batch)
    if rows is None:
        doc["notes"] = [{"title": n.title, "lines": n.lines} for n in lessons(a)]
    return json.dumps(doc, indent=2, ensure_ascii=False)
