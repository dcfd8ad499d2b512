"""Plots fit for a report, shared by `compare --plot` and the training curves: axes in K/M/G
(never matplotlib's `1e7` offset), a title, labels placed where they overlap neither each
other nor the frame, and a layout that keeps every text inside the figure.

matplotlib is an optional extra: only the functions import it, and callers turn its absence
into a UsageError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..files import write_atomically

UNITS = (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3))
POINT_COLOUR = "#3b6ea5"
LABEL_SIZE = 9  # points
# where a point's label may go, in points from the point, tried in this order
OFFSETS = ((7, 4), (-7, 4), (7, -13), (-7, -13), (7, 15), (-7, 15), (7, -24), (-7, -24),
           (0, 26), (0, -34))


def tick(value: float, _pos: Any = None) -> str:
    """An axis tick as `human()` writes counts: 25000000 -> '25 M', 1500 -> '1.5 K'."""
    for unit, size in UNITS:
        if abs(value) >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.3g}"


def count_axis(ax: Any, which: str, values: list[float]) -> None:
    """K/M/G ticks; a log scale when the values span more than 50x (1, 2, 5 steps while
    they span under three decades, so a short log axis still has several labels)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis = ax.xaxis if which == "x" else ax.yaxis
    low, high = min(values), max(values)
    if low > 0 and high / low > 50:
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
        if high / low < 1000:
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_minor_formatter(NullFormatter())
    axis.set_major_formatter(FuncFormatter(tick))


def scatter(points: list[tuple[str, float, float]], labels: tuple[str, str], title: str,
            target: Path) -> None:
    """Each (label, x, y) as a labelled point; written to `target` (png, svg or pdf)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5.5), dpi=110, layout="constrained")
    ax = figure.subplots()
    xs, ys = [p[1] for p in points], [p[2] for p in points]
    ax.plot(xs, ys, "o", color=POINT_COLOUR, zorder=3)
    count_axis(ax, "x", xs)
    count_axis(ax, "y", ys)
    ax.margins(0.12)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(alpha=0.3, which="major")
    figure.draw_without_rendering()  # settle the layout: label placement needs pixel places
    place_labels(ax, points)
    save(figure, target)


def place_labels(ax: Any, points: list[tuple[str, float, float]]) -> None:
    """Annotate each point at the first offset whose text stays inside the axes and clear of
    the labels and points placed before it."""
    scale = ax.figure.dpi / 72
    frame = ax.get_window_extent()
    marks = [tuple(ax.transData.transform((x, y))) for _, x, y in points]
    taken: list[tuple[float, float, float, float]] = [(px - 4, py - 4, px + 4, py + 4)
                                                      for px, py in marks]
    for (label, x, y), (px, py) in zip(points, marks):
        w, h = len(label) * LABEL_SIZE * 0.6 * scale, LABEL_SIZE * 1.25 * scale
        best = None
        for dx, dy in OFFSETS:
            left = px + dx * scale - (w if dx < 0 else w / 2 if dx == 0 else 0)
            box = (left, py + dy * scale, left + w, py + dy * scale + h)
            inside = frame.x0 <= box[0] and box[2] <= frame.x1 and frame.y0 <= box[1] \
                and box[3] <= frame.y1
            if inside and not any(_overlap(box, t) for t in taken):
                best = (dx, dy, box)
                break
        dx, dy, box = best or (*OFFSETS[0], (0, 0, 0, 0))
        taken.append(box)
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(dx, dy),
                    fontsize=LABEL_SIZE, va="bottom",
                    ha="right" if dx < 0 else "center" if dx == 0 else "left")


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def save(figure: Any, target: Path, fmt: str | None = None) -> None:
    """Written under a temporary name, then renamed: never a half-written file."""
    write_atomically(target, lambda tmp: figure.savefig(
        tmp, format=fmt or target.suffix[1:].lower()))

