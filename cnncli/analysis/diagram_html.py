"""`cnncli diagram -o FILE.html`: one self-contained page (nothing fetched) with the drawing,
details on click, blocks that open and close, and the summary table under it.

The script lays out `diagram_tree.tree()` with the same rules and constants as diagram.Layout;
`#expand=PATH,PATH` in the address opens those blocks on load (the browser test uses it).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from . import diagram as dg
from . import diagram_graph as gr
from . import diagram_header as hd
from .analyze import Analysis
from .diagram_tree import tree
from .report import SUMMARY_COLUMNS, summary_cells, totals_lines

CONSTANTS = {k: getattr(dg, k) for k in ("BW", "BH", "OPW", "OPH", "GAP", "HGAP", "CGAP", "PAD",
                                          "TITLE", "LANE", "MARGIN", "HMIN", "ASPECT",
                                          "OP_LABELS")}
CONSTANTS.update(LANE_STEP=gr.LANE_STEP, U_ASPECT=gr.U_ASPECT, PX=hd.PX,
                 INPUT_FILL=hd.INPUT_FILL, OP_FILL=hd.OP_FILL, FRAME_FILL=hd.FRAME_FILL,
                 DEFS=dg.ARROW)

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
              .replace("TREE_JSON", _json(tree(a))).replace("DEPTH_JSON", json.dumps(depth)))
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
