"""`cnncli diagram`: the network drawn as a standalone SVG, laid out without graphviz.

The spec's structure is series-parallel, so a small recursive layout does it: a sequence
goes top to bottom (wrapping into columns when long), concat branches side by side and
joined, a residual's body beside its shortcut, then the add. Blocks deeper than `--depth`
are one box. The HTML page (diagram_html.py) runs the same layout in JavaScript on the same
tree (`tree()`), so the two drawings agree; a browser test checks it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from ..spec.ir import Concat, Residual
from .analyze import Analysis, Row, is_shortcut
from .report import rf_text, shape_text

BW, BH, OPW, OPH = 200, 44, 96, 24  # layer box, add/concat box
GAP, HGAP, CGAP, PAD, TITLE, LANE, MARGIN = 18, 16, 40, 8, 22, 24, 20
HMAX = 1100  # a sequence taller than this wraps into columns


OP_LABELS = {"add": "⊕ add", "mul": "⊗ gate", "concat": "concat"}


def tree(a: Analysis) -> dict[str, Any]:
    """The analysed rows as plain data: what the layout (Python and JavaScript) reads."""
    total = a.root.macs or 1
    return _node(a.root, total, None)


def _node(row: Row, total: int, parent: Row | None) -> dict[str, Any]:
    node = row.node
    kind = "op" if row.op else "layer" if row.is_layer else \
        "concat" if isinstance(node, Concat) else "res" if isinstance(node, Residual) else "seq"
    out: dict[str, Any] = {
        "path": row.path, "name": row.path.rsplit(".", 1)[-1] or row.kind, "type": row.kind,
        "t": kind, "depth": row.depth, "output": shape_text(row.output),
        "params": row.params, "macs": row.macs, "flops": row.flops, "other_ops": row.other_ops,
        "rf": rf_text(row), "share": round(row.macs / total, 4),
        "spec": "" if row.op or not row.path else str(node.mark),
    }
    if row.children:
        out["children"] = [_node(c, total, row) for c in row.children]
    if kind == "res":
        out["side"] = next((i for i, c in enumerate(row.children) if is_shortcut(row, c)), -1)
    if kind == "concat" and isinstance(node, Concat) and node.after:
        # drawn as the concat (its branches and join), then the layers after it in a row
        joined = len(node.branches) + 1
        inner = {**out, "children": out["children"][:joined], "path": f"{row.path}.(join)"}
        return {**out, "t": "seq", "children": [inner, *out["children"][joined:]]}
    return out


# -- layout ---------------------------------------------------------------------------------

@dataclass
class Drawing:
    """Boxes, frames and edges placed by the layout, in SVG user units."""

    width: float = 0
    height: float = 0
    boxes: list[tuple[dict[str, Any], float, float, float, float]] = field(default_factory=list)
    frames: list[tuple[dict[str, Any], float, float, float, float]] = field(default_factory=list)
    edges: list[tuple[str, bool]] = field(default_factory=list)  # (path data, dashed)


class Layout:
    """Sizes and places a tree; `expanded(node)` says which blocks are drawn open."""

    def __init__(self, expanded: Any):
        self.expanded = expanded
        self.d = Drawing()

    # sizes ---------------------------------------------------------------------------------
    def size(self, n: dict[str, Any]) -> tuple[float, float]:
        if n["t"] == "op":
            return OPW, OPH
        if "children" not in n or not self.expanded(n):
            return BW, BH
        w, h = self.inner(n)
        return w + 2 * PAD, h + TITLE + PAD

    def inner(self, n: dict[str, Any]) -> tuple[float, float]:
        kids = n["children"]
        if n["t"] == "concat":
            return self.par_size(kids[:-1], kids[-1])
        if n["t"] == "res":
            return self.res_size(*self.res_parts(n))
        return self.seq_size(kids)

    def columns(self, items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        cols: list[list[dict[str, Any]]] = [[]]
        height = 0.0
        for item in items:
            h = self.size(item)[1]
            if cols[-1] and height + GAP + h > HMAX:
                cols.append([])
                height = 0.0
            height = h if not cols[-1] else height + GAP + h
            cols[-1].append(item)
        return cols

    def col_size(self, col: list[dict[str, Any]]) -> tuple[float, float]:
        sizes = [self.size(i) for i in col]
        return max(w for w, _ in sizes), sum(h for _, h in sizes) + GAP * (len(sizes) - 1)

    def seq_size(self, items: list[dict[str, Any]]) -> tuple[float, float]:
        if not items:
            return 0, 0
        sizes = [self.col_size(c) for c in self.columns(items)]
        return sum(w for w, _ in sizes) + CGAP * (len(sizes) - 1), max(h for _, h in sizes)

    def par_size(self, branches: list[dict[str, Any]], join: dict[str, Any]) -> tuple[float, float]:
        sizes = [self.branch_size(b) for b in branches]
        w = sum(w for w, _ in sizes) + HGAP * (len(sizes) - 1)
        return max(w, OPW), GAP + max(h for _, h in sizes) + GAP + OPH

    def branch_size(self, b: dict[str, Any]) -> tuple[float, float]:
        """A concat's branch: its layers drawn in place (no frame) when it is open."""
        if b["t"] == "seq" and "children" in b and self.expanded(b):
            return self.seq_size(b["children"])
        return self.size(b)

    def res_parts(self, n: dict[str, Any]) -> tuple[list, dict | None, dict, list]:
        kids, side = n["children"], n["side"]
        add = next(i for i, c in enumerate(kids) if c["t"] == "op")
        body = [c for i, c in enumerate(kids[:add]) if i != side]
        return body, (kids[side] if side >= 0 else None), kids[add], kids[add + 1:]

    def res_size(self, body: list, side: dict | None, add: dict,
                 after: list) -> tuple[float, float]:
        bw, bh = self.seq_size(body)
        sw, sh = self.branch_size(side) if side else (LANE, 0)
        aw, ah = self.seq_size(after)
        w = max(bw + HGAP + sw, OPW, aw)
        return w, GAP + max(bh, sh) + GAP + OPH + (GAP + ah if after else 0)

    # placing -------------------------------------------------------------------------------
    def place(self, n: dict[str, Any], x: float, y: float) -> tuple[float, float]:
        """Draw n with its top-left at (x, y); return its size. Entry and exit are the
        middle of its top and bottom edges."""
        w, h = self.size(n)
        if n["t"] == "op" or "children" not in n or not self.expanded(n):
            self.d.boxes.append((n, x, y, w, h))
            return w, h
        self.d.frames.append((n, x, y, w, h))
        iw, ih = self.inner(n)
        ix, iy = x + (w - iw) / 2, y + TITLE
        self.line(x + w / 2, y, x + w / 2, iy)
        self.place_inner(n, ix, iy)
        self.line(x + w / 2, iy + ih, x + w / 2, y + h)
        return w, h

    def place_inner(self, n: dict[str, Any], x: float, y: float) -> None:
        kids = n["children"]
        if n["t"] == "concat":
            self.place_par(kids[:-1], kids[-1], x, y)
        elif n["t"] == "res":
            self.place_res(*self.res_parts(n), x, y)
        else:
            self.place_seq(kids, x, y)

    def place_seq(self, items: list[dict[str, Any]], x: float, y: float) -> None:
        w, h = self.seq_size(items)
        cols, cx = self.columns(items), x
        prev: tuple[float, float] | None = None
        for col in cols:
            cw, _ = self.col_size(col)
            cy = y
            for item in col:
                iw, ih = self.size(item)
                mid = cx + cw / 2
                if prev is not None and prev[0] == mid:
                    self.line(mid, prev[1], mid, cy)
                elif prev is not None:  # to the next column: down, across, up, across, down
                    gx = cx - CGAP / 2
                    self.edge(f"M{prev[0]},{prev[1]} V{prev[1] + GAP / 2} H{gx} V{y - GAP / 2} "
                              f"H{mid} V{cy}")
                self.place(item, mid - iw / 2, cy)
                prev = (mid, cy + ih)
                cy += ih + GAP
            cx += cw + CGAP

    def place_branch(self, b: dict[str, Any], x: float, y: float) -> None:
        if b["t"] == "seq" and "children" in b and self.expanded(b):
            self.place_seq(b["children"], x, y)
        else:
            self.place(b, x, y)

    def place_par(self, branches: list, join: dict, x: float, y: float) -> None:
        w, h = self.par_size(branches, join)
        mid, sizes = x + w / 2, [self.branch_size(b) for b in branches]
        bx = x + (w - sum(s[0] for s in sizes) - HGAP * (len(sizes) - 1)) / 2
        jy = y + h - OPH
        for b, (bw, bh) in zip(branches, sizes):
            c = bx + bw / 2
            self.edge(f"M{mid},{y} V{y + GAP / 2} H{c} V{y + GAP}")
            self.place_branch(b, bx, y + GAP)
            self.edge(f"M{c},{y + GAP + bh} V{jy - GAP / 2} H{mid} V{jy}")
            bx += bw + HGAP
        self.place(join, mid - OPW / 2, jy)

    def place_res(self, body: list, side: dict | None, add: dict, after: list, x: float,
                  y: float) -> None:
        w, _ = self.res_size(body, side, add, after)
        (bw, bh), (sw, sh) = self.seq_size(body), self.branch_size(side) if side else (LANE, 0)
        mid, left = x + w / 2, x + (w - bw - HGAP - sw) / 2
        ay = y + GAP + max(bh, sh) + GAP
        bc, sc = left + bw / 2, left + bw + HGAP + sw / 2
        self.edge(f"M{mid},{y} V{y + GAP / 2} H{bc} V{y + GAP}")
        self.place_seq(body, left, y + GAP)
        self.edge(f"M{bc},{y + GAP + bh} V{ay - GAP / 2} H{mid} V{ay}")
        if side is None:
            self.edge(f"M{mid},{y} V{y + GAP / 2} H{sc} V{ay - GAP / 2} H{mid} V{ay}", True)
        else:
            self.edge(f"M{mid},{y} V{y + GAP / 2} H{sc} V{y + GAP}")
            self.place_branch(side, left + bw + HGAP, y + GAP)
            self.edge(f"M{sc},{y + GAP + sh} V{ay - GAP / 2} H{mid} V{ay}")
        self.place(add, mid - OPW / 2, ay)
        if after:
            aw, _ = self.seq_size(after)
            self.line(mid, ay + OPH, mid, ay + OPH + GAP)
            self.place_seq(after, mid - aw / 2, ay + OPH + GAP)

    def line(self, x1: float, y1: float, x2: float, y2: float) -> None:
        if y2 > y1:
            self.edge(f"M{x1},{y1} V{y2}")

    def edge(self, data: str, dashed: bool = False) -> None:
        self.d.edges.append((data, dashed))

    def run(self, root: dict[str, Any]) -> Drawing:
        w, h = self.seq_size(root["children"])
        self.place_seq(root["children"], MARGIN, MARGIN)
        self.d.width, self.d.height = w + 2 * MARGIN, h + 2 * MARGIN
        return self.d


def open_to(depth: int | None) -> Any:
    """The blocks drawn open at `depth`, as `summary --depth` shows their rows."""
    return lambda n: depth is None or n["depth"] < depth


# -- SVG ------------------------------------------------------------------------------------

def fill(share: float) -> str:
    """White to orange by share of the network's MACs (square root: small shares show)."""
    t = min(1.0, share) ** 0.5
    r, g, b = (round(255 + (v - 255) * t) for v in (240, 140, 50))
    return f"#{r:02x}{g:02x}{b:02x}"


def tooltip(n: dict[str, Any]) -> str:
    lines = [f"{n['path']} ({n['type']})", f"output {n['output']}", f"params {n['params']:,}",
             f"MACs {n['macs']:,} ({100 * n['share']:.1f}%)", f"FLOPs {n['flops']:,}",
             f"other ops {n['other_ops']:,}", f"RF/stride {n['rf']}"]
    return "\n".join(lines + ([f"spec {n['spec']}"] if n["spec"] else []))


def _box_svg(n: dict[str, Any], x: float, y: float, w: float, h: float) -> str:
    e = html.escape
    head = f'<g class="box" data-path="{e(n["path"])}"><title>{e(tooltip(n))}</title>'
    if n["t"] == "op":
        return (f'{head}<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="12" fill="#eef2f7" '
                f'stroke="#7a8799"/><text x="{x + w / 2}" y="{y + 16}" text-anchor="middle" '
                f'class="op">{OP_LABELS.get(n["type"], n["type"])}</text></g>')
    bar = max(2.0, round((w - 2) * n["share"], 1)) if n["macs"] else 0
    name = n["path"] if len(n["path"]) <= 28 else "…" + n["path"][-27:]
    share = f" · {100 * n['share']:.1f}%" if n["macs"] else ""
    return (f'{head}<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" '
            f'fill="{fill(n["share"])}" stroke="#5b6675"/>'
            f'<text x="{x + 8}" y="{y + 17}" class="name">{e(name)}</text>'
            f'<text x="{x + 8}" y="{y + 33}" class="info">{e(n["type"])} · {n["output"]}'
            f'{share}</text>'
            + (f'<rect x="{x + 1}" y="{y + h - 4}" width="{bar}" height="3" fill="#c0392b"/>'
               if bar else "") + "</g>")


def _frame_svg(n: dict[str, Any], x: float, y: float, w: float, h: float) -> str:
    e = html.escape
    return (f'<g class="frame" data-path="{e(n["path"])}"><title>{e(tooltip(n))}</title>'
            f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="#f7f9fc" '
            f'stroke="#9aa7b8" stroke-dasharray="4 3"/><text x="{x + 8}" y="{y + 15}" '
            f'class="title">{e(n["path"])} ({e(n["type"])}) · {n["output"]}</text></g>')


STYLE = ("text{font-family:DejaVu Sans,Verdana,sans-serif}.name{font-size:12px;font-weight:bold;"
         "fill:#1d2530}.info{font-size:11px;fill:#3a4654}.op{font-size:11px;fill:#3a4654}"
         ".title{font-size:11px;fill:#51606f}")


def svg(a: Analysis, depth: int | None) -> str:
    d = Layout(open_to(depth)).run(tree(a))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{d.width}" height="{d.height}" '
             f'viewBox="0 0 {d.width} {d.height}"><title>{html.escape(a.network.name)}</title>'
             f'<style>{STYLE}</style><rect width="100%" height="100%" fill="#ffffff"/>']
    parts += [_frame_svg(*f) for f in d.frames]
    parts += [f'<path d="{p}" fill="none" stroke="#6b7785" stroke-width="1.2"'
              + (' stroke-dasharray="5 3"' if dashed else "") + "/>" for p, dashed in d.edges]
    parts += [_box_svg(*b) for b in d.boxes]
    return "\n".join([*parts, "</svg>\n"])
