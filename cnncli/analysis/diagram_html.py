"""`cnncli diagram -o FILE.html`: one self-contained page (nothing fetched) with the drawing,
details on click, blocks that open and close, and the summary table under it.

The script lays out `diagram.tree()` with the same rules and constants as diagram.Layout;
`#expand=PATH,PATH` in the address opens those blocks on load (the browser test uses it).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from . import diagram as dg
from .analyze import Analysis
from .report import SUMMARY_COLUMNS, summary_cells, totals_lines

CONSTANTS = {k: getattr(dg, k) for k in ("BW", "BH", "OPW", "OPH", "GAP", "HGAP", "CGAP", "PAD",
                                          "TITLE", "LANE", "MARGIN", "HMAX")}

SCRIPT = Path(__file__).with_name("diagram.js")

STYLE = """
body{font-family:DejaVu Sans,Verdana,sans-serif;margin:16px;color:#1d2530}
#wrap{display:flex;gap:16px;align-items:flex-start}#scroll{overflow:auto;max-height:85vh;
border:1px solid #dde3ea}#panel{position:sticky;top:8px;min-width:260px}
#details th{text-align:left;padding-right:10px;color:#51606f;font-weight:normal}
table.summary{border-collapse:collapse;font-size:12px;margin-top:16px}
table.summary td,table.summary th{padding:2px 8px;border-bottom:1px solid #eef1f4}
table.summary td.n{text-align:right;font-variant-numeric:tabular-nums}
.box,.frame text{cursor:pointer}
""" + dg.STYLE


def page(a: Analysis, depth: int | None) -> str:
    """The whole page as one string: style, drawing script, data and summary inline."""
    net = a.network
    script = (SCRIPT.read_text(encoding="utf-8").replace("CONSTANTS", json.dumps(CONSTANTS))
              .replace("TREE_JSON", _json(dg.tree(a))).replace("DEPTH_JSON", json.dumps(depth)))
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(net.name)}: cnncli diagram</title><style>{STYLE}</style></head>",
        f"<body><h1>{html.escape(net.name)}</h1><p>{html.escape(net.description)}</p>",
        "<p>Click a ▸ box to open its block, a ▾ frame title to close it; click any box for "
        "its figures. Colour and red bar: share of the network's MACs.</p>",
        '<div id="wrap"><div id="scroll"><svg id="drawing" xmlns="http://www.w3.org/2000/svg">'
        "</svg></div>",
        '<div id="panel"><h3>Details</h3><table id="details"></table></div></div>',
        _summary(a, depth), f"<script>{script}</script></body></html>", ""])


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
