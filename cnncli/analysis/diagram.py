"""`cnncli diagram`: the network drawn as a standalone SVG, laid out without graphviz.

The spec's structure is series-parallel, so a small recursive layout does it: a sequence
goes top to bottom, concat branches side by side and joined, a residual's body beside its
shortcut, then the add. Only concat branches and a shortcut sit side by side: a sequence
taller than the drawing's column height (chosen so the whole is about as wide as tall, or
up to twice that when it keeps every top-level block in one column) goes on in a next
column, joined by an arrow, as text does in a newspaper. Blocks deeper than
`--depth` are one box. Above the drawing: a title with the totals and a legend
(diagram_header.py). The tree laid out is diagram_tree.py's `tree()`; this layout is the
only one: the HTML page (diagram_html.py) and `cnncli serve` draw what it placed. A graph
network (`from:`, joins, `outputs:`) gets its reads drawn as edges and, when it is an
encoder-decoder, a U layout: the rules are diagram_graph.py's.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

from . import diagram_graph as gr
from . import diagram_header as hd
from .analyze import Analysis
from .diagram_tree import tree

BW, BH, OPW, OPH = 216, 44, 96, 24  # layer box, add/concat box
GAP, HGAP, CGAP, PAD, TITLE, LANE, MARGIN = 18, 16, 48, 8, 22, 24, 20
# Column height: at least HMIN (small networks stay one column), else what makes the drawing
# about ASPECT times as wide as tall. A sequence taller than it goes on in a next column.
HMIN, ASPECT = 1400, 1.0


OP_LABELS = {"add": "⊕ add", "mul": "⊗ gate", "multiply": "⊗ multiply", "concat": "concat"}


# -- layout ---------------------------------------------------------------------------------

@dataclass
class Drawing:
    """Boxes, frames and edges placed by the layout, in SVG user units."""

    width: float = 0
    height: float = 0
    boxes: list[tuple[dict[str, Any], float, float, float, float]] = field(default_factory=list)
    frames: list[tuple[dict[str, Any], float, float, float, float]] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)  # (path data, "dashed"/"arrow")
    reads: list[tuple] = field(default_factory=list)  # graph edges (diagram_graph.route)
    marks: list[tuple] = field(default_factory=list)  # the named outputs' boxes


class Layout:
    """Sizes and places a tree; `expanded(node)` says which blocks are drawn open."""

    gaps = (GAP, CGAP)  # for diagram_graph's U

    def __init__(self, expanded: Any):
        self.expanded = expanded
        self.d = Drawing()
        self.hmax = math.inf
        # size and offsets of each node, by id: without them the nesting costs exponential time
        self.memo: dict[tuple[str, int], Any] = {}

    # sizes ---------------------------------------------------------------------------------
    def size(self, n: dict[str, Any]) -> tuple[float, float]:
        key = ("size", id(n))
        if key not in self.memo:
            self.memo[key] = self._size(n)
        return self.memo[key]

    def _size(self, n: dict[str, Any]) -> tuple[float, float]:
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
            # the input node stays with the first layer
            if cols[-1] and height + GAP + h > self.hmax and cols[-1][-1]["t"] != "in":
                cols.append([])
                height = 0.0
            height = h if not cols[-1] else height + GAP + h
            cols[-1].append(item)
        return cols

    def offsets(self, n: dict[str, Any]) -> tuple[float, float]:
        """Where n is entered (top) and left (bottom), as x offsets from its left edge: the
        middle, but for an open sequence its first and last columns' spines."""
        key = ("offsets", id(n))
        if key not in self.memo:
            self.memo[key] = self._offsets(n)
        return self.memo[key]

    def _offsets(self, n: dict[str, Any]) -> tuple[float, float]:
        w, _ = self.size(n)
        if n["t"] != "seq" or "children" not in n or not self.expanded(n):
            return w / 2, w / 2
        into, out, _ = self.ends(n["children"], (w - self.inner(n)[0]) / 2, 0)
        return into, out

    def spine(self, col: list[dict[str, Any]]) -> float:
        """The column's vertical line, from its left: every item is entered on it."""
        return max(self.offsets(i)[0] for i in col)

    def col_size(self, col: list[dict[str, Any]]) -> tuple[float, float]:
        sizes = [self.size(i) for i in col]
        right = max(w - self.offsets(i)[0] for i, (w, _) in zip(col, sizes))
        return self.spine(col) + right, sum(h for _, h in sizes) + GAP * (len(sizes) - 1)

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
        if b["t"] == "pass":
            return LANE, 0
        if b["t"] == "seq" and "children" in b and self.expanded(b):
            return self.seq_size(b["children"])
        return self.size(b)

    def ends(self, items: list[dict[str, Any]], x: float, y: float) -> tuple[float, float, float]:
        """Where a sequence placed at (x, y) is entered and left: the middle of its first
        column's top, and of its last column's bottom (x, y)."""
        if not items:
            return x, x, y
        cols = self.columns(items)
        first = x + self.spine(cols[0])
        for col in cols[:-1]:
            x += self.col_size(col)[0] + CGAP
        into, out = self.offsets(cols[-1][-1])
        return first, x + self.spine(cols[-1]) - into + out, y + self.col_size(cols[-1])[1]

    def branch_ends(self, b: dict[str, Any], x: float, y: float) -> tuple[float, float, float]:
        if b["t"] == "pass":
            return x + LANE / 2, x + LANE / 2, y
        if b["t"] == "seq" and "children" in b and self.expanded(b):
            return self.ends(b["children"], x, y)
        (into, out), h = self.offsets(b), self.branch_size(b)[1]
        return x + into, x + out, y + h

    def res_parts(self, n: dict[str, Any]) -> tuple[list, dict | None, dict, list]:
        kids, side = n["children"], n["side"]
        # its own add, not an add: {from: ...} join in its body
        add = next(i for i, c in enumerate(kids) if c["path"] == f"{n['path']}.(add)")
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
        """Draw n with its top-left at (x, y); return its size. Entry and exit: offsets()."""
        w, h = self.size(n)
        if n["t"] == "op" or "children" not in n or not self.expanded(n):
            self.d.boxes.append((n, x, y, w, h))
            return w, h
        self.d.frames.append((n, x, y, w, h))
        iw, ih = self.inner(n)
        ix, iy = x + (w - iw) / 2, y + TITLE
        (into, out), kids = self.offsets(n), n["children"]
        oy = self.ends(kids, ix, iy)[2] if n["t"] == "seq" else iy + ih
        self.line(x + into, y, x + into, iy)
        self.place_inner(n, ix, iy)
        self.line(x + out, oy, x + out, y + h)
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
        cx, prev = x, None
        for col in self.columns(items):
            spine, cy = cx + self.spine(col), y
            for i, item in enumerate(col):
                (into, out), ih = self.offsets(item), self.size(item)[1]
                if item.get("reads"):  # it reads named outputs, not the entry above: their edges
                    pass
                elif prev is not None and i == 0:  # to the next column: down, across, up, ...
                    self.edge(f"M{prev[0]},{prev[1]} V{prev[1] + GAP / 2} H{cx - CGAP / 2} "
                              f"V{y - 4} H{spine} V{cy}", "arrow")
                elif prev is not None and prev[0] == spine:
                    self.line(spine, prev[1], spine, cy)
                elif prev is not None:  # left off the spine (a wrapped block): back onto it
                    self.edge(f"M{prev[0]},{prev[1]} V{cy - GAP / 2} H{spine} V{cy}")
                self.place(item, spine - into, cy)
                prev = (spine - into + out, cy + ih)
                cy += ih + GAP
            cx += self.col_size(col)[0] + CGAP

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
        for b, (bw, _) in zip(branches, sizes):
            into, out, oy = self.branch_ends(b, bx, y + GAP)
            if b["t"] == "pass":
                self.edge(f"M{mid},{y} V{y + GAP / 2} H{into} V{jy - GAP / 2} H{mid} V{jy}",
                          "dashed")
            else:
                self.edge(f"M{mid},{y} V{y + GAP / 2} H{into} V{y + GAP}")
                self.place_branch(b, bx, y + GAP)
                self.edge(f"M{out},{oy} V{jy - GAP / 2} H{mid} V{jy}")
            bx += bw + HGAP
        self.place(join, mid - OPW / 2, jy)

    def place_res(self, body: list, side: dict | None, add: dict, after: list, x: float,
                  y: float) -> None:
        w, _ = self.res_size(body, side, add, after)
        (bw, bh), (sw, sh) = self.seq_size(body), self.branch_size(side) if side else (LANE, 0)
        mid, left = x + w / 2, x + (w - bw - HGAP - sw) / 2
        ay = y + GAP + max(bh, sh) + GAP
        (into, out, oy), sc = self.ends(body, left, y + GAP), left + bw + HGAP + sw / 2
        sin, sout, soy = self.branch_ends(side, sc - sw / 2, y + GAP) if side else (sc, sc, 0)
        self.edge(f"M{mid},{y} V{y + GAP / 2} H{into} V{y + GAP}")
        self.place_seq(body, left, y + GAP)
        self.edge(f"M{out},{oy} V{ay - GAP / 2} H{mid} V{ay}")
        if side is None:
            self.edge(f"M{mid},{y} V{y + GAP / 2} H{sc} V{ay - GAP / 2} H{mid} V{ay}", "dashed")
        else:
            self.edge(f"M{mid},{y} V{y + GAP / 2} H{sin} V{y + GAP}")
            self.place_branch(side, left + bw + HGAP, y + GAP)
            self.edge(f"M{sout},{soy} V{ay - GAP / 2} H{mid} V{ay}")
        self.place(add, mid - OPW / 2, ay)
        if after:
            aw, _ = self.seq_size(after)
            into = self.ends(after, mid - aw / 2, 0)[0]
            self.edge(f"M{mid},{ay + OPH} V{ay + OPH + GAP / 2} H{into} V{ay + OPH + GAP}")
            self.place_seq(after, mid - aw / 2, ay + OPH + GAP)

    def line(self, x1: float, y1: float, x2: float, y2: float) -> None:
        if y2 > y1:
            self.edge(f"M{x1},{y1} V{y2}")

    def edge(self, data: str, style: str = "") -> None:
        self.d.edges.append((data, style))

    def run(self, root: dict[str, Any], head: tuple[float, float] = (0, 0)) -> Drawing:
        """Place the tree under a header of size `head`, centred when narrower than it."""
        w, h = self.measure(root, math.inf)
        turn = gr.u_turn(root["children"])
        if turn is not None and (u := gr.u_size(self, root["children"], turn)) and \
                u[0] >= gr.U_ASPECT * u[1]:
            return self.finish(root, u, head, lambda x, y: gr.place_u(self, root["children"],
                                                                      turn, x, y))
        hmax, tallest = column_height(w, h), max(self.size(c)[1] for c in root["children"])
        w, h = self.measure(root, hmax)
        if hmax < tallest <= 2 * hmax:  # columns that keep each top-level block whole
            tall = self.measure(root, tallest)  # (ResNet-50's stages), unless a thin strip
            w, h = tall if tall[1] <= 2 * tall[0] else self.measure(root, hmax)
        for _ in range(3):  # columns nested in blocks widen it past the estimate: taller ones
            if w <= ASPECT * 1.2 * h:
                break
            w, h = self.measure(root, math.floor(self.hmax * math.sqrt(w / (ASPECT * h))))
        return self.finish(root, (w, h), head, lambda x, y: self.place_seq(root["children"],
                                                                           x, y))

    def finish(self, root: dict[str, Any], size: tuple[float, float],
               head: tuple[float, float], place: Any) -> Drawing:
        """Place the tree by `place(x, y)` centred under the header, then the graph edges."""
        w, h = size
        width = max(w + 2 * MARGIN, head[0])
        place((width - w) / 2, MARGIN + head[1])
        self.d.width, self.d.height = width, h + 2 * MARGIN + head[1]
        gr.route(self.d, root)
        return self.d

    def measure(self, root: dict[str, Any], hmax: float) -> tuple[float, float]:
        """The drawing's size with columns `hmax` tall."""
        self.hmax, self.memo = hmax, {}
        return self.seq_size(root["children"])


def column_height(w: float, h: float) -> float:
    """For a drawing w wide and h tall in one column: the column height that makes it about
    ASPECT times as wide as tall (n columns of w + CGAP each, h / n tall), at least HMIN."""
    return max(HMIN, math.floor(math.sqrt(h * (w + CGAP) / ASPECT)))


def open_to(depth: int | None) -> Any:
    """The blocks drawn open at `depth`, as `summary --depth` shows their rows."""
    return lambda n: depth is None or n["depth"] < depth


# -- SVG ------------------------------------------------------------------------------------

def tooltip(n: dict[str, Any]) -> str:
    lines = [f"{n['path']} ({n['type']})", f"output {n['output']}", f"params {n['params']:,}",
             f"MACs {n['macs']:,} ({100 * n['share']:.1f}%)", f"FLOPs {n['flops']:,}",
             f"other ops {n['other_ops']:,}", f"RF/stride {n['rf']}"]
    return "\n".join(lines + ([f"spec {n['spec']}"] if n["spec"] else []))


def info_label(n: dict[str, Any], chars: int) -> str:
    """type · output · share, dropping the share (the red bar shows it) when too long."""
    base = f"{n['type']} · {n['output']}"
    return hd.fit_first([f"{base} · {100 * n['share']:.1f}%" if n["macs"] else base, base],
                        chars)


def frame_label(n: dict[str, Any], chars: int) -> str:
    """path (type) · output, dropping the shape, then the type, then shortening the path."""
    p, t = n["path"], n["type"]
    return hd.fit_first([f"{p} ({t}) · {n['output']}", f"{p} ({t})",
                         f"{hd.fit_path(p, chars - len(t) - 3)} ({t})"], chars)


def _box_svg(n: dict[str, Any], x: float, y: float, w: float, h: float) -> str:
    e = html.escape
    head = (f'<g class="box{" input" if n["t"] == "in" else ""}" data-path="{e(n["path"])}">'
            f"<title>{e(tooltip(n))}</title>")
    if n["t"] == "op":
        return (f'{head}<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="12" '
                f'fill="{hd.OP_FILL}" stroke="#7a8799"/><text x="{x + w / 2}" y="{y + 16}" '
                f'text-anchor="middle" class="op">{OP_LABELS.get(n["type"], n["type"])}</text></g>')
    bar = max(2.0, round((w - 2) * n["share"], 1)) if n["macs"] else 0
    colour = hd.INPUT_FILL if n["t"] == "in" else hd.fill(n["share"])
    name = n["name"] if n["t"] == "in" else hd.fit_path(n["path"], hd.room(w - 16, "name"))
    return (f'{head}<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" '
            f'fill="{colour}" stroke="#5b6675"/>'
            + hd.text(x + 8, y + 17, "name", name, w - 16)
            + hd.text(x + 8, y + 33, "info", info_label(n, hd.room(w - 16, "info")), w - 16)
            + (f'<rect x="{x + 1}" y="{y + h - 4}" width="{bar}" height="3" fill="#c0392b"/>'
               if bar else "") + "</g>")


def _frame_svg(n: dict[str, Any], x: float, y: float, w: float, h: float) -> str:
    e = html.escape
    return (f'<g class="frame" data-path="{e(n["path"])}"><title>{e(tooltip(n))}</title>'
            f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{hd.FRAME_FILL}" '
            f'stroke="#b4c0ce"/>'
            + hd.text(x + 8, y + 15, "title", frame_label(n, hd.room(w - 16, "title")), w - 16)
            + "</g>")


STYLE = gr.STYLE + (
         "text{font-family:DejaVu Sans,Verdana,sans-serif}.name{font-size:12px;font-weight:bold;"
         "fill:#1d2530}.info{font-size:11px;fill:#3a4654}.op{font-size:11px;fill:#3a4654}"
         ".title{font-size:11px;fill:#51606f}.head{font-size:16px;font-weight:bold;"
         "fill:#1d2530}.totals{font-size:12px;fill:#1d2530}")
ARROW = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
         'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#6b7785"/></marker>'
         + gr.MARKER + "</defs>")
EDGE_STYLE = {"": "", "dashed": ' stroke-dasharray="5 3"', "arrow": ' marker-end="url(#arrow)"'}


def svg(a: Analysis, depth: int | None, opened: Any = None) -> str:
    d = Layout(opened or open_to(depth)).run(tree(a), hd.header_size(a, depth, MARGIN))
    head = hd.header(a, depth, MARGIN, d.width)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{d.width}" height="{d.height}" '
             f'viewBox="0 0 {d.width} {d.height}"><title>{html.escape(a.network.name)}</title>'
             f'<style>{STYLE}</style>{ARROW}<rect width="100%" height="100%" fill="#ffffff"/>',
             head]
    parts += [_frame_svg(*f) for f in d.frames]
    parts += [f'<path d="{p}" fill="none" stroke="#6b7785" stroke-width="1.2"{EDGE_STYLE[s]}/>'
              for p, s in d.edges]
    parts += [_box_svg(*b) for b in d.boxes] + gr.reads_svg(d) + gr.marks_svg(d)
    return "\n".join([*parts, "</svg>\n"])
