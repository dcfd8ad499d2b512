"""`cnncli diagram -o FILE.html`: one self-contained page (nothing fetched) with the drawing,
details on click, blocks that open and close, and the summary table under it.

The page draws what diagram.Layout placed, never a layout of its own: the drawing at the
depth asked for, one drawing per block a click can open (that block and the blocks it sits
in opened), then one per block open at that depth that a click can shut, shallowest first,
while they fit in BUDGET bytes; a block past the budget stays as the depth has it (`cnncli
serve` lays out any block on request). `#expand=PATH` in the address opens that block on
load (the browser test uses it).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from . import diagram as dg
from . import diagram_header as hd
from .analyze import Analysis
from .diagram_tree import tree
from .report import SUMMARY_COLUMNS, summary_cells, totals_lines

CONSTANTS = {"PX": hd.PX, "INPUT_FILL": hd.INPUT_FILL, "OP_FILL": hd.OP_FILL,
             "FRAME_FILL": hd.FRAME_FILL, "DEFS": dg.ARROW, "OP_LABELS": dg.OP_LABELS}
#: the most layout data (JSON bytes) a page carries for the blocks a click opens or shuts; the
#: drawing at the asked depth always comes. ResNet-152 at depth 1 needs 0.3 MB for all of them.
BUDGET = 1_500_000

SCRIPT = Path(__file__).with_name("diagram.js")

# The page is the window's height: a header, then the drawing and the summary in one scroll
# pane beside a details panel. Only the pane scrolls (the page itself never does), so a
# 1366x768 laptop shows all of it with one scrollbar.
STYLE = """
html,body{height:100%;margin:0;overflow:hidden}
body{font-family:DejaVu Sans,Verdana,sans-serif;color:#1d2530;display:flex;
flex-direction:column}
header{flex:none;padding:8px 16px 6px;border-bottom:1px solid #dde3ea}
header h1{font-size:18px;margin:0 0 2px}header p{margin:2px 0;font-size:13px}
header .hint{color:#51606f;font-size:12px}
#main{flex:1;min-height:0;display:flex}
#scroll{flex:1;min-width:0;overflow:auto;padding:0 16px 16px}
#panel{flex:none;width:270px;padding:8px 12px;border-left:1px solid #dde3ea;overflow:hidden;
font-size:13px}#panel h3{margin:4px 0 8px;font-size:15px}
#panel button{font:inherit;padding:1px 8px;margin-right:2px}
#details{margin-top:10px}#details td{word-break:break-all}
#details th{text-align:left;padding-right:10px;color:#51606f;font-weight:normal;
vertical-align:top}
table.summary{border-collapse:collapse;font-size:12px;margin-top:8px}
table.summary td,table.summary th{padding:2px 8px;border-bottom:1px solid #eef1f4}
table.summary td.n{text-align:right;font-variant-numeric:tabular-nums}
h2{font-size:16px;margin:16px 0 0}
.box,.frame text{cursor:pointer}
""" + dg.STYLE


def page(a: Analysis, depth: int | None) -> str:
    """The whole page as one string: style, drawing script, data and summary inline."""
    script = (SCRIPT.read_text(encoding="utf-8").replace("CONSTANTS", _json(CONSTANTS))
              .replace("DRAWINGS_JSON", _json(drawings(a, depth)))
              .replace("DEPTH_JSON", json.dumps(depth)))
    e = html.escape
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(a.network.name)}: cnncli diagram</title><style>{STYLE}</style></head>",
        f"<body><header><h1>{e(hd.title_text(a))}</h1><p>{e(hd.totals_text(a, depth))}</p>",
        f'<svg width="{hd.LEGEND_W}" height="44" viewBox="0 0 {hd.LEGEND_W} 44">'
        f"{hd.legend(0, 2)}</svg>",
        '<p class="hint">Click a ▸ box to open its block, a ▾ frame title to close it; click '
        "any box for its figures.</p></header>",
        '<div id="main"><div id="scroll"><svg id="drawing" xmlns="http://www.w3.org/2000/svg">'
        f"</svg>{_summary(a, depth)}</div>",
        '<div id="panel"><h3>Details</h3><button id="smaller" title="smaller">−</button>'
        '<button id="zoom" title="actual size">100%</button><button id="larger" '
        'title="larger">+</button><table id="details"><tr><td>Click a box.</td></tr></table>'
        "</div></div>", f"<script>{script}</script></body></html>", ""])


def drawings(a: Analysis, depth: int | None) -> dict[str, Any]:
    """{"nodes": every node's figures by path, "states": {"": the drawing at `depth`, PATH:
    the drawing with block PATH opened, "-PATH": with block PATH (open at `depth`) shut}}:
    the placed boxes, frames and edges, the blocks a click opens first."""
    root = tree(a)
    nodes: dict[str, Any] = {}
    blocks: list[dict[str, Any]] = []
    default = dg.open_to(depth)

    def visit(n: dict[str, Any]) -> None:
        block = "children" in n and n["t"] != "op"
        nodes[n["path"]] = {k: v for k, v in n.items() if k != "children"} | {"block": block}
        if block and n["path"]:
            blocks.append(n)
        for child in n.get("children", ()):
            visit(child)

    visit(root)
    states = {"": placed(dg.Layout(default).run(root))}
    size = len(_json(states))
    # stable sorts: tree order within a depth; the blocks to open before those to shut
    for n in sorted(sorted(blocks, key=lambda n: n["depth"]), key=default):
        path = n["path"]
        if default(n):
            key, opened = f"-{path}", (lambda m, path=path: default(m) and m["path"] != path)
        else:
            chain = _ancestors(path)
            key, opened = path, (lambda m, chain=chain: default(m) or m["path"] in chain)
        state = placed(dg.Layout(opened).run(root))
        size += len(_json(state))
        if size > BUDGET:
            break
        states[key] = state
    return {"nodes": nodes, "states": states}


def _ancestors(path: str) -> set[str]:
    """'a.b.c' -> {'a', 'a.b', 'a.b.c'}: the blocks opened to show block a.b.c open."""
    parts = path.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def placed(d: dg.Drawing) -> dict[str, Any]:
    """A layout's result as the page draws it: boxes and frames by path, edges as drawn."""
    return {"size": [d.width, d.height],
            "boxes": [[n["path"], x, y, w, h] for n, x, y, w, h in d.boxes],
            "frames": [[n["path"], x, y, w, h] for n, x, y, w, h in d.frames],
            "edges": d.edges, "reads": d.reads, "marks": d.marks}


def _json(data: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(data, separators=(",", ":")).replace("</", "<\\/")


def _summary(a: Analysis, depth: int | None) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in SUMMARY_COLUMNS)
    body = "".join("<tr>" + "".join(f'<td{" class=n" if i >= 3 else ""}>{e(c)}</td>'
                                    for i, c in enumerate(row)) + "</tr>"
                   for row in summary_cells(a, depth))
    totals = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in totals_lines(a))
    return (f'<h2>Summary</h2><table class="summary"><tr>{head}</tr>{body}</table>'
            f'<h2>Totals</h2><table class="summary">{totals}</table>')
