"""Where the cost goes: by layer, by block and by layer type (`cnncli flops`)."""

from __future__ import annotations

import json
from typing import Any

from ..layers import shape_text
from .analyze import Analysis, Row
from .report import (
    CONVENTIONS,
    header_record,
    layer_record,
    mark_partial,
    markdown_table,
    no_macs,
    reads,
    rows_csv,
    totals_table,
)
from .table import TextTable


def _share(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _layers(a: Analysis, depth: int | None, top: int | None) -> list[tuple[Row, dict[str, Any]]]:
    """Each row shown with its record (the tables ask the row whether its work is MACs)."""
    total = a.root.macs * a.batch
    shown = reads(a.root, depth)
    pairs = [(r, layer_record(r, a.batch, shown)) for r in a.root.frontier(depth)]
    for _, rec in pairs:
        rec["macs_percent"] = _share(rec["macs"], total)
    if top is not None:
        pairs = sorted(pairs, key=lambda p: (-p[1]["macs"], -p[1]["other_ops"]))[:top]
    return pairs


def by_layer(a: Analysis, depth: int | None, top: int | None) -> list[dict[str, Any]]:
    return [rec for _, rec in _layers(a, depth, top)]


def by_block(a: Analysis) -> list[dict[str, Any]]:
    """The network's top-level pieces: stages, inception modules, top-level layers."""
    return by_layer(a, 1, None)


def by_type(a: Analysis) -> list[dict[str, Any]]:
    buckets: dict[str, dict[str, Any]] = {}

    def bucket(kind: str) -> dict[str, Any]:
        return buckets.setdefault(kind, {"type": kind, "count": 0, "params": 0, "macs": 0,
                                         "flops": 0, "other_ops": 0})

    for row in a.root.walk():
        if row.is_leaf:
            b = bucket(row.kind)
            b["count"] += 1
            b["params"] += row.params
            b["macs"] += row.macs * a.batch
            b["flops"] += row.flops * a.batch
            b["other_ops"] += row.other_ops * a.batch
    total = a.root.macs * a.batch
    records = sorted(buckets.values(), key=lambda b: (-b["macs"], -b["other_ops"]))
    for rec in records:
        rec["macs_percent"] = _share(rec["macs"], total)
    return records


def flops_json(a: Analysis, depth: int | None, top: int | None) -> str:
    doc = header_record(a)
    doc["schema"] = "cnncli.flops/1"
    doc["by_layer"] = by_layer(a, depth, top)
    doc["by_block"] = by_block(a)
    doc["by_type"] = by_type(a)
    mark_partial(doc, a)
    return json.dumps(doc, indent=2)


def flops_csv(a: Analysis, depth: int | None, top: int | None) -> str:
    return rows_csv(by_layer(a, depth, top))


LAYER_COLUMNS = ("Layer", "Type", "Output", "MACs", "% MACs", "FLOPs", "Other ops", "Params")
TYPE_COLUMNS = ("Type", "Count", "MACs", "% MACs", "FLOPs", "Other ops", "Params")
# Left out first in a narrow terminal: FLOPs is 2 x MACs; the compute stays.
LAYER_DROP = ("FLOPs", "Other ops", "Params", "Type", "Output")
TYPE_DROP = ("FLOPs", "Other ops", "Params", "Count")


def _mac_cells(r: dict[str, Any], none: bool) -> list[str]:
    """MACs, % MACs and FLOPs; — where the work is not multiply-accumulates, as in summary."""
    if none:
        return ["—", "—", "—"]
    return [f"{r['macs']:,}", f"{r['macs_percent']:.2f}", f"{r['flops']:,}"]


def _label(r: dict[str, Any]) -> str:
    """The path, and what the row reads when it is not the row above (as in summary)."""
    return f"{r['path']} ← {', '.join(r['reads'])}" if "reads" in r else r["path"]


def _layer_cells(pairs: list[tuple[Row, dict[str, Any]]]) -> list[list[str]]:
    return [[_label(r), r["type"], shape_text(r["output"]),
             *_mac_cells(r, no_macs(row)), f"{r['other_ops']:,}", f"{r['params']:,}"]
            for row, r in pairs]


def _type_cells(records: list[dict[str, Any]]) -> list[list[str]]:
    return [[r["type"], f"{r['count']:,}", *_mac_cells(r, r["macs"] == 0),
             f"{r['other_ops']:,}", f"{r['params']:,}"] for r in records]


def _titles(a: Analysis, depth: int | None, top: int | None) -> tuple[str, str, str]:
    shown = "all layers" if depth is None else f"depth {depth}"
    layer_title = f"By layer ({shown}" + (f", top {top} by MACs)" if top else ")")
    per = f" for batch {a.batch}" if a.batch > 1 else ""
    return (f"{a.network.name}: cost breakdown{per} — " + layer_title,
            "By block (top level)", "By layer type")


def flops_renderables(a: Analysis, depth: int | None, top: int | None) -> list[Any]:
    layer_title, block_title, type_title = _titles(a, depth, top)
    return [
        TextTable(layer_title, LAYER_COLUMNS, _layer_cells(_layers(a, depth, top)), 3,
                  drop=LAYER_DROP),
        TextTable(block_title, LAYER_COLUMNS, _layer_cells(_layers(a, 1, None)), 3,
                  drop=LAYER_DROP),
        TextTable(type_title, TYPE_COLUMNS, _type_cells(by_type(a)), 1, drop=TYPE_DROP),
        totals_table(a),
        f"FLOPs: {CONVENTIONS['flops']}; other ops are not in MACs or FLOPs.",
    ]


def flops_markdown(a: Analysis, depth: int | None, top: int | None) -> str:
    layer_title, block_title, type_title = _titles(a, depth, top)
    layers = _layer_cells(_layers(a, depth, top))
    parts = [
        f"### {layer_title}", markdown_table(LAYER_COLUMNS, layers, 3),
        f"### {block_title}", markdown_table(LAYER_COLUMNS, _layer_cells(_layers(a, 1, None)),
                                             3),
        f"### {type_title}", markdown_table(TYPE_COLUMNS, _type_cells(by_type(a)), 1),
    ]
    return "\n\n".join(parts) + "\n"
