"""The diagram's header (title, totals, legend) and the label fitting both drawings share.

Widths are estimated from character counts (DejaVu Sans, the font the drawing asks for, is
about 0.62 em a character): no font metrics are at hand when writing an SVG file. A label
that does not fit is shortened at a boundary (a dot of a layer path, a space), never inside
a word; diagram.js, which draws the HTML page's boxes, fits its labels by the same rules.
"""

from __future__ import annotations

import html
from typing import Any

from ..layers import shape_text
from .analyze import Analysis
from .report import human, outputs_text

PX = {"name": 7.9, "info": 6.8, "title": 6.8, "head": 10.4, "totals": 7.4}  # px a character
INPUT_FILL, OP_FILL, FRAME_FILL = "#dbe7f5", "#eef2f7", "#f7f9fc"
SHARES = (0.0, 0.01, 0.05, 0.25, 1.0)  # the legend's colour swatches


def fill(share: float) -> str:
    """White to orange by share of the network's MACs (square root: small shares show)."""
    t = min(1.0, share) ** 0.5
    r, g, b = (round(255 + (v - 255) * t) for v in (240, 140, 50))
    return f"#{r:02x}{g:02x}{b:02x}"


def room(width: float, cls: str) -> int:
    """How many characters of class `cls` fit in `width` pixels."""
    return int(width // PX[cls])


def fit_path(path: str, chars: int) -> str:
    """A layer path shortened from the left at dots to fit: 'a.b.c.d' -> '…c.d'."""
    if len(path) <= chars:
        return path
    parts = path.split(".")
    for i in range(1, len(parts)):
        tail = "…" + ".".join(parts[i:])
        if len(tail) <= chars:
            return tail
    return "…" + parts[-1]  # one name longer than the box: drawn squeezed, still whole


def fit_first(candidates: list[str], chars: int) -> str:
    """The first candidate that fits, else the last (drawn squeezed)."""
    return next((c for c in candidates if len(c) <= chars), candidates[-1])


def fit_words(text: str, chars: int) -> str:
    """Text cut at a space to fit, with '…'."""
    if len(text) <= chars:
        return text
    cut = text[:chars - 1].rsplit(" ", 1)[0].rstrip(",;:·")
    return cut + " …"


def text(x: float, y: float, cls: str, label: str, width: float, **attrs: Any) -> str:
    """An SVG text element, squeezed to `width` only when its estimate overflows."""
    more = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    if len(label) * PX[cls] > width:
        more += f' textLength="{width:g}" lengthAdjust="spacingAndGlyphs"'
    return f'<text x="{x:g}" y="{y:g}" class="{cls}"{more}>{html.escape(label)}</text>'


def totals_text(a: Analysis, depth: int | None) -> str:
    t = a.totals()
    line = (f"{t['params']:,} params ({human(t['params'])}) · {t['macs']:,} MACs "
            f"({human(t['macs'])}) · input {shape_text(a.input)} → "
            f"{'outputs' if a.network.outputs else 'output'} {outputs_text(a)}")
    if a.batch != 1:
        line += f" · batch {a.batch}"
    return line + (f" · blocks below depth {depth} closed" if depth is not None else "")


LEGEND_W = 570


def legend(x: float, y: float) -> str:
    """Two rows: the colour scale with the red bar, then the shapes the drawing uses."""
    parts = [f'<text x="{x}" y="{y + 12}" class="info">share of the MACs (colour, red bar):'
             f"</text>"]
    sx = x + 222
    for share in SHARES:
        parts.append(f'<rect x="{sx}" y="{y}" width="16" height="16" rx="3" '
                     f'fill="{fill(share)}" stroke="#5b6675"/><text x="{sx + 20}" y="{y + 12}" '
                     f'class="info">{100 * share:g}%</text>')
        sx += 56 if share < 1 else 60
    parts.append(f'<rect x="{sx}" y="{y + 6}" width="36" height="3" fill="#c0392b"/>')
    sx, y = x, y + 24  # the shapes on a second row
    samples = (('rx="3" fill="{INPUT_FILL}" stroke="#5b6675"', "input", 90),
               ('rx="8" fill="{OP_FILL}" stroke="#7a8799"', "add / concat", 146),
               ('rx="4" fill="{FRAME_FILL}" stroke="#b4c0ce"', "block",
                96))
    for style, label, advance in samples:
        parts.append(f'<rect x="{sx}" y="{y}" width="34" height="16" '
                     + style.format(**globals()) + "/>"
                     f'<text x="{sx + 40}" y="{y + 12}" class="info">{label}</text>')
        sx += advance
    parts.append(f'<path d="M{sx},{y + 8} h34" stroke="#6b7785" stroke-width="1.2" '
                 f'stroke-dasharray="5 3"/><text x="{sx + 40}" y="{y + 12}" class="info">'
                 "identity shortcut</text>")
    return "".join(parts)


def header_size(a: Analysis, depth: int | None, margin: float) -> tuple[float, float]:
    """The least width of the header (its totals line and legend) and its height."""
    width = max(LEGEND_W, len(totals_text(a, depth)) * PX["totals"]) + 2 * margin
    return width, 100 + 22 * (len(title_lines(a, width - 2 * margin)) - 1) + margin


def title_text(a: Analysis) -> str:
    net = a.network
    return f"{net.name} — {net.description}" if net.description else net.name


def title_lines(a: Analysis, width: float) -> list[str]:
    """The title in at most two lines of `width`, broken at spaces."""
    chars, words = room(width, "head"), title_text(a).split(" ")
    first = ""
    while words and len(f"{first} {words[0]}".strip()) <= chars:
        first = f"{first} {words.pop(0)}".strip()
    if not first:  # one word longer than the line
        return [fit_words(" ".join(words), chars)]
    return [first] + ([fit_words(" ".join(words), chars)] if words else [])


def header(a: Analysis, depth: int | None, margin: float, width: float) -> str:
    """The title, totals and legend as SVG markup, `width` wide (the title broken as at the
    header's least width, whose height the layout left for it)."""
    inner = width - 2 * margin
    lines = title_lines(a, header_size(a, depth, margin)[0] - 2 * margin)
    down = 22 * (len(lines) - 1)
    return ('<g class="header">'
            + "".join(text(margin, margin + 16 + 22 * i, "head", line, inner)
                      for i, line in enumerate(lines))
            + text(margin, margin + 38 + down, "totals", totals_text(a, depth), inner)
            + legend(margin, margin + 52 + down) + "</g>")
