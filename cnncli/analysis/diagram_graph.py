"""Graph networks in the diagram: the reads of named outputs drawn as edges, a U layout for
encoder-decoder networks, and the network's named outputs marked.

Edges. Every read of a named output (`from:`; a join's every input) is one edge from the box
that made the tensor to the box that reads it: the drawn box or open frame of that path, or
of the closed block it lies in (a read inside one closed block is not drawn; two reads
between the same two boxes are one edge). Such an entry gets no line from the entry above
it: it does not read that. An edge is straight when the reader sits right above or below
its source with nothing between; otherwise it leaves the source's right side, runs down (or
up) a lane right of everything it passes (each edge its own lane, LANE_STEP apart, the first
free one from the left) and enters the reader's side. A reader in a column to the right is
reached straight across when nothing is in the way; when columns lie between (newspaper
columns), the edge goes down a lane beside the source's column, along a row under the
drawing and up a lane beside the reader's, so that it crosses no box. The read tensor's
shape labels the edge along its (last) lane, or beside a straight edge, where it fits.

U layout. A top-level entry that reads (itself or anywhere inside it) a top-level entry's
output from before the entry above it is the turn (the first decoder level of a U-Net: it
reads an encoder level as its skip), provided that a later entry reads one from still
further back (the skips nest, as the levels of a U do; a join of two parallel branches is
no U). From the turn on, the entries go into a second column
to the right, upwards from the bottom, so that the decoder climbs back beside the encoder
and the skips run across between the two (a gap widened by a lane for each). It is used
when the U is no more than 1 : 1/U_ASPECT tall (2.5 times as tall as wide; blocks are not
wrapped in it); a U-Net at full depth is taller, and is laid out in the usual columns.

Outputs. Where the spec lists several `outputs:`, each one's box (or the closed block it is
in) gets a dark outline and an `output N` tag.

The HTML page draws these edges as routed here (diagram_html.py embeds them).
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

LANE_STEP, U_ASPECT = 14, 0.4
Rect = tuple[float, float, float, float, bool]  # x, y, w, h, is a box (else an open frame)


def walk(n: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield n
    for child in n.get("children", []):
        yield from walk(child)


def reads(root: dict[str, Any]) -> list[tuple[str, str]]:
    """(source path, reader path) for every read of a named output, in tree order."""
    return [(src, n["path"]) for n in walk(root) for src in n.get("reads", [])]


def owner(path: str, paths: Any) -> str | None:
    """The drawn path that shows `path`: itself, or the closed block (longest prefix) it is in."""
    best = None
    for q in paths:
        if (path == q or path.startswith(q + ".")) and (best is None or len(q) > len(best)):
            best = q
    return best


# -- the U ----------------------------------------------------------------------------------

def u_turn(items: list[dict[str, Any]]) -> int | None:
    """The index of the first top-level entry that reads an entry's output from before the
    one above it (not the network's input), if a later entry reads one from before that:
    skips that nest, as a U-Net's levels do. Else None."""
    paths = [i["path"] for i in items]
    far = [(i, j) for i, item in enumerate(items) for src, _ in reads(item)
           if 1 <= (j := index(owner(src, paths), paths)) < i - 1]
    if far and any(i > far[0][0] and j < far[0][1] for i, j in far):
        return far[0][0]
    return None


def index(path: str | None, paths: list[str]) -> int:
    return -1 if path is None else paths.index(path)


def u_crossing(items: list[dict[str, Any]], turn: int) -> int:
    """How many reads cross from the encoder column to the decoder column (each a lane)."""
    enc = [i["path"] for i in items[:turn]]
    return sum(owner(src, enc) is not None for item in items[turn:] for src, _ in reads(item))


def u_size(lay: Any, items: list[dict[str, Any]], turn: int) -> tuple[float, float]:
    """The U's size: the encoder's column, the gap with its lanes, the decoder's column.
    `lay` is a diagram.Layout (its `gaps`: the gap between items, between columns)."""
    (ew, eh), (dw, dh) = lay.col_size(items[:turn]), lay.col_size(items[turn:])
    return ew + gap(lay, items, turn) + dw, max(eh, dh)


def gap(lay: Any, items: list[dict[str, Any]], turn: int) -> float:
    return lay.gaps[1] + LANE_STEP * u_crossing(items, turn)


def place_u(lay: Any, items: list[dict[str, Any]], turn: int, x: float, y: float) -> None:
    """The encoder down the left column, the decoder up the right one from the bottom."""
    GAP = lay.gaps[0]  # noqa: N806 (diagram.GAP)
    enc, dec = items[:turn], items[turn:]
    (ew, eh), (_, dh) = lay.col_size(enc), lay.col_size(dec)
    bottom = y + max(eh, dh)
    lay.place_seq(enc, x, bottom - eh)
    _, ex, ey = lay.ends(enc, x, bottom - eh)
    sp, cy, prev = x + ew + gap(lay, items, turn) + lay.spine(dec), bottom, (ex, ey)
    for item in dec:
        (into, out), ih = lay.offsets(item), lay.size(item)[1]
        if not item.get("reads"):  # from the item below (its top) up into this one's bottom
            lay.edge(f"M{prev[0]},{prev[1]} V{cy + GAP / 2} H{sp - into + out} V{cy}", "arrow")
        lay.place(item, sp - into, cy - ih)
        prev, cy = (sp, cy - ih), cy - ih - GAP


# -- routing --------------------------------------------------------------------------------

def route(d: Any, root: dict[str, Any]) -> None:
    """Add an edge for each read and a mark for each named output to the Drawing `d`."""
    rects: dict[str, Rect] = {n["path"]: (x, y, w, h, False) for n, x, y, w, h in d.frames}
    rects.update({n["path"]: (x, y, w, h, True) for n, x, y, w, h in d.boxes})
    shapes = {n["path"]: n["output"] for n in walk(root)}
    router, done = Router(rects), set()
    for src, reader in reads(root):
        a, b = owner(src, rects), owner(reader, rects)
        if a is None or b is None or a == b or (a, b) in done:
            continue
        done.add((a, b))
        shape = shapes.get(src, "")
        d.reads.append((a, b, *router.edge(a, b, shape), shape))
    d.width = max([d.width] + [x + LANE_STEP + 20 for x, _, _ in router.lanes])
    d.height = max([d.height] + [y + 20 for y, _, _ in router.rows])
    for i, (name, path) in enumerate(root.get("outputs", [])):
        if (p := owner(path, rects)) is not None:
            d.marks.append((p, i + 1, name, rects[p][:4]))


Label = tuple[float, float, bool] | None  # where an edge's shape goes: x, y, along the lane


def fit(label: tuple[float, float, bool], run: float, shape: str) -> Label:
    """The label where the edge's vertical run has room for it: along a lane, its length;
    beside a straight edge, a line's height."""
    return label if abs(run) >= (len(shape) * 6.2 + 12 if label[2] else 14) else None


class Router:
    """Routes the edges one by one, each in lanes (vertical) and rows (horizontal, under
    the drawing) that no earlier edge took."""

    def __init__(self, rects: dict[str, Rect]):
        self.rects = rects
        self.lanes: list[tuple[float, float, float]] = []  # x, from y, to y
        self.rows: list[tuple[float, float, float]] = []  # y, from x, to x
        self.bottom = max((y + h for _, y, _, h, _ in rects.values()), default=0)

    def edge(self, a: str, b: str, shape: str) -> tuple[str, Label]:
        """The path data of the edge from a to b, and where its label goes (if it fits)."""
        sx, sy, sw, sh, sbox = self.rects[a]
        rx, ry, rw, rh, rbox = self.rects[b]
        cx = sx + sw / 2
        if abs(cx - (rx + rw / 2)) < 1 and self.clear(a, b, cx):
            y0, y1 = (sy + sh, ry) if sy + sh <= ry else (sy, ry + rh)
            return f"M{cx},{y0} V{y1}", fit((cx + 5, (y0 + y1) / 2 + 4, False), y1 - y0, shape)
        ya, yb = sy + (sh / 2 if sbox else sh - 12), ry + (rh / 2 if rbox else 12)
        lo, hi = min(ya, yb), max(ya, yb)
        if rx < sx + sw:  # the same column: a lane right of all it passes
            lane = self.lane(self.side(min(sx, rx), max(sx + sw, rx + rw), lo, hi, 1) + 10,
                             lo, hi, 1)
            return (f"M{sx + sw},{ya} H{lane} V{yb} H{rx + rw}",
                    fit((lane - 3, (lo + hi) / 2, True), hi - lo, shape))
        lane = self.lane(self.side(sx, sx + sw, lo, hi, 1) + 10, lo, hi, 1, take=False)
        if not (self.blocked(a, b, sx + sw, lane, ya) or self.blocked(a, b, lane, rx, yb)):
            self.lanes.append((lane, lo, hi))  # a column to the right, straight across
            return (f"M{sx + sw},{ya} H{lane} V{yb} H{rx}",
                    fit((lane - 3, (lo + hi) / 2, True), hi - lo, shape))
        # columns between: down beside the source's, along under the drawing, up beside
        # the reader's
        out = self.lane(self.side(sx, sx + sw, ya, self.bottom, 1) + 10, ya, self.bottom, 1)
        into = self.lane(self.side(rx, rx + rw, yb, self.bottom, -1) - 10, yb, self.bottom, -1)
        y = self.row(out, into)
        return (f"M{sx + sw},{ya} H{out} V{y} H{into} V{yb} H{rx}",
                fit((into - 3, (yb + y) / 2, True), y - yb, shape))

    def side(self, left: float, right: float, lo: float, hi: float, way: int) -> float:
        """The right (way 1) or left (-1) edge of what lies within x left..right, y lo..hi."""
        xs = [x + w if way > 0 else x for x, y, w, h, _ in self.rects.values()
              if x < right and x + w > left and y < hi and y + h > lo]
        return max([right, *xs]) if way > 0 else min([left, *xs])

    def lane(self, x: float, lo: float, hi: float, way: int, take: bool = True) -> float:
        """The first lane from x (rightwards, or leftwards) free over y lo..hi."""
        while any(abs(x - lx) < LANE_STEP - 1 and y0 < hi + 4 and y1 > lo - 4
                  for lx, y0, y1 in self.lanes):
            x += way * LANE_STEP
        if take:
            self.lanes.append((x, lo, hi))
        return x

    def row(self, x0: float, x1: float) -> float:
        """The first row under the drawing free from x0 to x1."""
        lo, hi, y = min(x0, x1), max(x0, x1), self.bottom + 10
        while any(abs(y - ry) < 7 and a < hi + 4 and b > lo - 4 for ry, a, b in self.rows):
            y += 8
        self.rows.append((y, lo, hi))
        return y

    def blocked(self, a: str, b: str, x0: float, x1: float, y: float) -> bool:
        """Whether the line at y from x0 to x1 crosses a box or frame (but a's and b's own
        and those they lie in)."""
        lo, hi = min(x0, x1), max(x0, x1)
        return any(x < hi and x + w > lo and ry < y < ry + h
                   for p, (x, ry, w, h, _) in self.rects.items()
                   if not any(q == p or q.startswith(p + ".") for q in (a, b)))

    def clear(self, a: str, b: str, x: float) -> bool:
        """No box lies on the vertical line at x between a and b."""
        ay, ah, by, bh = self.rects[a][1], self.rects[a][3], self.rects[b][1], self.rects[b][3]
        lo, hi = min(ay + ah, by + bh), max(ay, by)
        return not any(box and rx < x < rx + rw and ry < hi and ry + rh > lo
                       for p, (rx, ry, rw, rh, box) in self.rects.items() if p not in (a, b))


# -- SVG ------------------------------------------------------------------------------------

def reads_svg(d: Any) -> list[str]:
    e, out = html.escape, []
    for a, b, data, label, shape in d.reads:
        out.append(f'<path class="read" data-from="{e(a)}" data-to="{e(b)}" d="{data}" '
                   'fill="none" stroke="#2f6db5" stroke-width="1.4" marker-end="url(#read)"/>')
        if label is not None:
            x, y, along = label
            turn = f' transform="rotate(-90 {x} {y})" text-anchor="middle"' if along else ""
            out.append(f'<text class="edge" x="{x}" y="{y}"{turn}>{e(shape)}</text>')
    return out


def marks_svg(d: Any) -> list[str]:
    e, out = html.escape, []
    for path, i, name, (x, y, w, h) in d.marks:
        tx, ty, anchor = tag_place(x, y, w, h)
        out.append(f'<g class="output-mark" data-path="{e(path)}"><title>network output {i}: '
                   f'{e(name)}</title><rect x="{x - 2}" y="{y - 2}" width="{w + 4}" '
                   f'height="{h + 4}" rx="6" fill="none" stroke="#1d2530" stroke-width="2"/>'
                   f'<text class="tag" x="{tx}" y="{ty}" text-anchor="{anchor}">'
                   f"output {i}</text></g>")
    return out


def tag_place(x: float, y: float, w: float, h: float) -> tuple[float, float, str]:
    """An output's tag: in the top right corner of a box or frame, right of a small add or
    concat (whose label fills it)."""
    return (x + w - 6, y + 13, "end") if h >= 40 else (x + w + 6, y + h / 2 + 4, "start")


STYLE = (".edge{font-size:10px;fill:#2f6db5;paint-order:stroke;stroke:#fff;stroke-width:3px}"
         ".tag{font-size:10px;font-weight:bold;"
         "fill:#1d2530}")
MARKER = ('<marker id="read" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
          'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#2f6db5"/>'
          "</marker>")
