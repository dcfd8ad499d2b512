"""Turn an Analysis into tables, JSON, CSV or Markdown. No torch here."""

from __future__ import annotations

import io
import json
import math
from typing import Any

from ..layers import shape_text
from ..spec.ir import shown_path
from .analyze import Analysis, Row
from .choices import FORMATS
from .table import KeyValues, TextTable, mib, wrap_text

#: the formats of commands that print one table or its JSON record (bench, eval, predict)
TABLE_OR_JSON = FORMATS[:2]
SCHEMA = "cnncli.summary/1"

CONVENTIONS = {
    "macs": "multiply-accumulates of conv and linear layers; bias adds are not MACs",
    "flops": "2 x MACs, the torch.utils.flop_counter convention",
    "other_ops": "elementwise work outside the MACs (bias adds, norm, activation, pooling, "
                 "residual add), counted per layer as docs/counting.md states",
    "activations": "output elements of every layer (composites add their concat/add output)",
    "connections": "for each output unit, the inputs it reads plus its bias, summed over "
                   "the layer (LeCun et al., 1998); per sample, not scaled by batch",
    "batch": "macs, flops, other_ops and activations are for the whole batch; params are not",
    "units": "exact counts; bytes for memory (MiB = 2^20 bytes)",
}


def human(n: float) -> str:
    """1234567 -> '1.23 M' (K, M, G, T as powers of 1000)."""
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return str(int(n))


def rf_text(row: Row) -> str:
    (h, w), (jh, jw) = row.rf.size, row.rf.jump
    size = str(h) if h == w else f"{h}x{w}"
    jump = str(jh) if jh == jw else f"{jh}x{jw}"
    return f"{size}/{jump}"


class Scaled:
    """A row's numbers at the analysis batch size."""

    def __init__(self, row: Row, batch: int) -> None:
        self.row, self.batch = row, batch

    @property
    def macs(self) -> int:
        return self.row.macs * self.batch

    @property
    def flops(self) -> int:
        return self.row.flops * self.batch

    @property
    def other_ops(self) -> int:
        return self.row.other_ops * self.batch

    @property
    def activations(self) -> int:
        return self.row.activations * self.batch


def work_note(row: Row) -> str:
    """What the layer's work is, so no cost is silently zero."""
    if row.op == "add":
        return "1 add per element (residual add)"
    if row.op == "concat":
        return "none (a copy into the joined tensor)"
    if row.op == "mul":
        return "1 multiply per element (the gate scales the input)"
    if not row.is_layer:
        return "sum of the layers inside"
    layer = row.layer
    note = layer.work or "none"
    if note == "MACs" and row.other_ops:
        note = "MACs; other ops are its bias adds"
    return note


def reads(root: Row, depth: int | None) -> dict[str, list[str]]:
    """For each row shown at `depth` whose input is not the row above it (graph form), the
    paths it reads: its own `from:`, or that of the composite it is the first row of;
    `input` is the network's input."""
    found: dict[str, list[str]] = {}

    def visit(row: Row, inherited: tuple[str, ...]) -> None:
        own = row.node.sources if row.node.path == row.path else ()  # not an (add) row
        sources = own or inherited
        if not row.children or (depth is not None and row.depth >= depth):
            if sources:
                found[row.path] = [shown_path(p) for p in sources]
            return
        for i, child in enumerate(row.children):
            visit(child, sources if i == 0 else ())

    for child in root.children:
        visit(child, ())
    return found


def layer_label(row: Row, shown: dict[str, list[str]]) -> str:
    """The Layer cell: the path, and where its input comes from when it is not the row above
    (`outc2 ← up1`, `up1.cat ← inc, up1.reduce`)."""
    sources = shown.get(row.path)
    return f"{row.path} ← {', '.join(sources)}" if sources else row.path


def layer_record(row: Row, batch: int, shown: dict[str, list[str]] | None = None
                 ) -> dict[str, Any]:
    s = Scaled(row, batch)
    extra = {"reads": shown[row.path]} if shown and row.path in shown else {}
    if row.owner is not None:
        extra["shares"] = row.owner.path
    return {
        "path": row.path,
        **extra,
        "type": row.kind,
        "depth": row.depth,
        "input": list(row.input),
        "output": list(row.output),
        "params": row.params,
        "trainable_params": row.trainable,
        "buffers": row.buffers,
        "macs": s.macs,
        "flops": s.flops,
        "other_ops": s.other_ops,
        "activations": s.activations,
        "connections": row.connections,
        "rf": list(row.rf.size),
        "rf_stride": list(row.rf.jump),
        "work": work_note(row),
    }


def header_record(a: Analysis) -> dict[str, Any]:
    net = a.network
    return {
        "schema": SCHEMA,
        "name": net.name,
        "description": net.description,
        "source": net.source,
        "input": list(a.input),
        "output": list(a.output),
        **({"outputs": {name: list(node.output) for name, node in net.outputs.items()}}
           if net.outputs else {}),
        "batch": a.batch,
        "dtype": a.dtype,
        "spec_params": {k: _plain(v) for k, v in net.params.items()},
        "conventions": CONVENTIONS,
    }


def _plain(value: Any) -> Any:
    """Parameter values as strict JSON: lists as lists, inf/nan as YAML's .inf/.nan text."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    return value


def summary_json(a: Analysis, depth: int | None, training: Any = None,
                 timing: Any = None) -> str:
    """The summary document; with `training` (summary --train) per-layer `saved_bytes`
    and a `training` object; with `timing` (summary --time) per-layer `time_ms`,
    `totals.time_ms` and a `time` object."""
    doc = header_record(a)
    shown = reads(a.root, depth)
    doc["layers"] = [layer_record(r, a.batch, shown) for r in a.root.frontier(depth)]
    for record, row in zip(doc["layers"], a.root.frontier(depth)):
        if training is not None:
            record["saved_bytes"] = training.saved(row)
        if timing is not None:
            record["time_ms"] = timing.ms[row.path]
    mark_partial(doc, a)
    if training is not None:
        doc["training"] = training.as_dict()
    if timing is not None:
        doc["totals"]["time_ms"] = timing.total_ms
        doc["time"] = timing.record(a)
    return json.dumps(doc, indent=2)


CSV_FIELDS = ("path", "type", "output", "params", "trainable_params", "buffers", "macs",
              "flops", "other_ops", "activations", "rf", "rf_stride", "work")


def rows_csv(records: list[dict[str, Any]]) -> str:
    import csv  # here: only --format csv needs it

    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({**rec, "output": shape_text(rec["output"]),
                         "rf": shape_text(rec["rf"]), "rf_stride": shape_text(rec["rf_stride"])})
    return out.getvalue()


def summary_csv(a: Analysis, depth: int | None) -> str:
    return rows_csv([layer_record(r, a.batch) for r in a.root.frontier(depth)])


# -- tables (text and markdown share the same cells) -----------------------------------

SUMMARY_COLUMNS = ("Layer", "Type", "Output", "Params", "MACs", "FLOPs", "Other ops",
                   "Activations", "RF/stride")
# Left out first when a terminal is too narrow: FLOPs is 2 x MACs, then the columns a first
# look needs least; Layer, Output, Params and MACs stay (and --train's Saved column, and
# --time's time column, kept longest: it is what the user asked for).
SUMMARY_DROP = ("FLOPs", "Other ops", "Activations", "RF/stride", "Type", "Saved", "Time ms")


def summary_cells(a: Analysis, depth: int | None) -> list[list[str]]:
    cells = []
    shown = reads(a.root, depth)
    for row in a.root.frontier(depth):
        s = Scaled(row, a.batch)
        none = no_macs(row)
        cells.append([
            layer_label(row, shown), row.kind, shape_text(row.output),
            "shared" if row.owner is not None else f"{row.params:,}",
            "—" if none else f"{s.macs:,}", "—" if none else f"{s.flops:,}",
            f"{s.other_ops:,}", f"{s.activations:,}", rf_text(row),
        ])
    return cells


def no_macs(row: Row) -> bool:
    """A layer, add or concat whose work is not multiply-accumulates: its MACs show as —."""
    if row.op is not None:
        return True
    return row.is_layer and not row.layer.counts_macs


def outputs_text(a: Analysis) -> str:
    """The output shape, or each named output's (`p3 256x80x80, p4 ...`)."""
    named = a.network.outputs
    if not named:
        return shape_text(a.output)
    return ", ".join(f"{name} {shape_text(node.output)}" for name, node in named.items())


def unpriced_ops(a: Analysis) -> list[dict[str, Any]]:
    """Each operator cnncli could not price: its name, how many, and where."""
    ops: dict[str, list[str]] = {}
    for row in a.unpriced():
        ops.setdefault(row.layer.op, []).append(row.path)
    return [{"op": op, "count": len(paths), "paths": paths} for op, paths in ops.items()]


def mark_partial(doc: dict[str, Any], a: Analysis) -> None:
    """The totals in a JSON document, `partial` when some operator was not priced, and the
    list of those (`unpriced`)."""
    ops = unpriced_ops(a)
    doc["totals"] = {**a.totals(), "partial": bool(ops)}
    if ops:
        doc["unpriced"] = ops


def partial_line(a: Analysis) -> list[tuple[str, str]]:
    ops = unpriced_ops(a)
    if not ops:
        return []
    listed = "; ".join(f"{o['op']} x{o['count']} ({', '.join(o['paths'][:3])}"
                       f"{', ...' if o['count'] > 3 else ''})" for o in ops)
    return [("PARTIAL", f"the totals leave out {sum(o['count'] for o in ops)} operator(s) "
                        f"cnncli cannot price: {listed}")]


def shared_line(a: Analysis) -> list[tuple[str, str]]:
    """Which layers use another's weights (`shares:`), said once under the totals."""
    users: dict[str, list[str]] = {}
    for row in a.root.walk():
        if row.owner is not None:
            users.setdefault(row.owner.path, []).append(row.path)
    if not users:
        return []
    said = "; ".join(f"{', '.join(paths)} use{'s' if len(paths) == 1 else ''} {owner}'s"
                     for owner, paths in users.items())
    return [("Shared weights", f"{said} (counted once, at the owner)")]


def totals_lines(a: Analysis) -> list[tuple[str, str]]:
    t = a.totals()
    per = "" if a.batch == 1 else f" (batch {a.batch})"
    return partial_line(a) + [
        ("Input", f"{shape_text(a.input)} x batch {a.batch}, {a.dtype}"),
        ("Output", outputs_text(a)),
        ("Params", f"{t['params']:,} ({human(t['params'])})"),
        *shared_line(a),
        ("Trainable params", f"{t['trainable_params']:,}"),
        ("Buffers", f"{t['buffers']:,}"  # what they hold, where there are any
         + (f" ({buffer_notes(a)}; not params)" if t["buffers"] else "")),
        (f"MACs{per}", f"{t['macs']:,} ({human(t['macs'])})"),
        (f"FLOPs{per}", f"{t['flops']:,} ({human(t['flops'])}) = 2 x MACs"),
        (f"Other ops{per}", f"{t['other_ops']:,} ({human(t['other_ops'])}), not in MACs/FLOPs"),
        ("Param memory", f"{mib(t['param_bytes'])} ({t['param_bytes']:,} bytes, {a.dtype})"),
        ("Buffer memory", mib(t["buffer_bytes"])),
        (f"Activation memory{per}", f"{mib(t['activation_bytes'])} "
         f"({t['activations']:,} elements, {a.dtype})"),
        ("Input memory", mib(t["input_bytes"])),
    ]


def buffer_notes(a: Analysis) -> str:
    """What the network's buffers hold, from the layer types that have any."""
    notes = [row.layer.buffer_note for row in a.root.walk()
             if row.is_layer and row.buffers]
    return ", ".join(dict.fromkeys(notes)) or "BatchNorm running statistics"


NOTE = ("MACs: multiply-accumulates of conv/linear; FLOPs = 2 x MACs (torch.utils.flop_counter); "
        "— = the layer does no MACs, its work is under Other ops (bias, norm, activation, "
        "pooling, add). RF/stride: receptive field and cumulative stride in input pixels.")


def markdown_table(columns: tuple[str, ...] | list[str], cells: list[list[str]],
                   numeric_from: int) -> str:
    align = ["---" if i < numeric_from else "---:" for i in range(len(columns))]
    lines = ["| " + " | ".join(columns) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
    return "\n".join(lines)


def summary_markdown(a: Analysis, depth: int | None) -> str:
    head = f"## {a.network.name}\n\n{a.network.description}\n\n".replace("\n\n\n", "\n\n")
    table = markdown_table(SUMMARY_COLUMNS, summary_cells(a, depth), 3)
    totals = markdown_table(["Total", "Value"], [list(t) for t in totals_lines(a)], 2)
    return f"{head}{table}\n\n{totals}\n\n{NOTE}\n"


def totals_table(a: Analysis) -> KeyValues:
    return KeyValues(totals_lines(a))


def summary_renderables(a: Analysis, depth: int | None, training: Any = None,
                        fits: tuple[int, int] | None = None, timing: Any = None) -> list[Any]:
    """The table, the totals and the note; with `training`, a Saved column and the
    training-memory lines; with `timing` (analysis.timing), a time column and lines."""
    title = f"{a.network.name}: {a.network.description}" if a.network.description \
        else a.network.name
    columns, cells = list(SUMMARY_COLUMNS), summary_cells(a, depth)
    lines = totals_lines(a)
    if training is not None:
        columns.append("Saved")
        for cell, row in zip(cells, a.root.frontier(depth)):
            cell.append(f"{training.saved(row):,}")
        lines += training.lines(fits)
    if timing is not None:
        columns.append(timing.column)
        for cell, row in zip(cells, a.root.frontier(depth)):
            cell.append(timing.cell(row))
        lines += timing.lines(a)
    return [TextTable(title, columns, cells, 3, drop=SUMMARY_DROP), KeyValues(lines), NOTE]


def summary_text(a: Analysis, width: int | None = None, depth: int | None = None) -> str:
    """The summary as `cnncli summary` prints it, fitted to width (None: complete)."""
    parts = []
    for item in summary_renderables(a, depth):
        if isinstance(item, str):
            lines = item.split("\n")
            parts.append("\n".join(part for line in lines for part in
                                   wrap_text(line, width, " " * (len(line) - len(line.lstrip())))))
        else:
            parts.append(item.render(width))
    return "\n".join(parts) + "\n"


Analysis.renderer = summary_text  # Analysis.table(), without analyze importing this module
