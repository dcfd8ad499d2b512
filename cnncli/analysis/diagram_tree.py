"""The analysed network as the plain tree a diagram lays out (`tree()`): what diagram.py's
layout places, and the figures the HTML page (diagram_html.py) shows per node. A node that reads
named outputs (graph form) lists their paths as `reads`; the root lists the network's
named `outputs` as [name, path] pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..layers import shape_text
from ..spec.ir import Concat, Join, Residual
from .analyze import Analysis, Row
from .report import rf_text


def tree(a: Analysis) -> dict[str, Any]:
    """The analysed rows as plain data: what the layout (Python and JavaScript) reads."""
    total = a.root.macs or 1
    root = _node(a.root, total, None)
    source = {"path": "(input)", "name": "input", "type": "input", "t": "in", "depth": 1,
              "output": shape_text(a.input), "params": 0, "macs": 0, "flops": 0,
              "other_ops": 0, "rf": "1/1", "share": 0.0, "spec": ""}
    outputs = [[name, node.path] for name, node in a.network.outputs.items()]
    return {**root, "children": [source, *root.get("children", [])], "outputs": outputs}


def _node(row: Row, total: int, parent: Row | None) -> dict[str, Any]:
    node = row.node
    kind = "op" if row.op else "layer" if row.is_layer else \
        "concat" if isinstance(node, Concat) else "res" if isinstance(node, Residual) else "seq"
    out: dict[str, Any] = {
        "path": row.path, "name": row.path.rsplit(".", 1)[-1] or row.kind, "type": row.kind,
        "t": kind, "depth": row.depth, "output": shape_text(row.output),
        "params": row.params, "macs": row.macs, "flops": row.flops, "other_ops": row.other_ops,
        "rf": rf_text(row), "share": round(row.macs / total, 4),
        "spec": "" if row.op or not row.path else _where(node.mark),
    }
    if node.sources and node.path == row.path:
        # the named outputs it reads (graph form): a join all of them; any other node its
        # input (a block call's further inputs are read, and drawn, inside it)
        out["reads"] = list(node.sources if isinstance(node, Join) else node.sources[:1])
    if row.children:
        out["children"] = [_node(c, total, row) for c in row.children]
    elif kind == "seq" and row.path:
        out["t"] = "pass"  # an empty branch: the input passed on, drawn as a dashed lane
    if kind == "res":
        out["side"] = next((i for i, c in enumerate(row.children) if c.role == "shortcut"),
                           -1)
    if kind == "concat" and isinstance(node, Concat) and node.after:
        # drawn as the concat (its branches and join), then the layers after it in a row
        joined = len(node.branches) + 1
        inner = {**out, "children": out["children"][:joined], "path": f"{row.path}.(join)"}
        inner.pop("reads", None)  # the wrapper reads it
        return {**out, "t": "seq", "children": [inner, *out["children"][joined:]]}
    return out


def _where(mark: Any) -> str:
    """file.yaml:line:col, the file's name only: a drawing is shared, its folder is private."""
    return f"{Path(mark.file).name}:{mark.line}:{mark.col}"
