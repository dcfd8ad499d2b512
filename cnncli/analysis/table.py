"""Plain text tables that fit a terminal: the one renderer of every table cnncli prints.

To a pipe or a file (width None) a table is complete: every column, exact figures, one row a
line, so scripts can read it. In a terminal it fits the window, in this order:

1. a column marked `wrap` (a description) wraps onto more lines instead of widening the table;
2. columns are left out, least important first (each table names its order);
3. numbers in the remaining columns are shortened to K/M/G with three significant digits,
   widest column first, only while exact ones do not fit;
4. as a last resort, the remaining columns but the first are left out from the right.

A name in the first column is never cut: it is what the user types next. A footer line says
what was left out or shortened and that `--wide` shows everything. No rich here: rich lays out
every cell through its renderer, about 0.2 s for ResNet-152's 500 rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

GAP = 3  # spaces between columns
MIN_WRAP = 24  # narrowest a wrapped column may become before it is left out
#: 1,234 and what follows; compiled by `re` on first use (only a narrow terminal shortens)
_NUMBER = r"^(-?\d{1,3}(?:,\d{3})+|-?\d{4,})(.*)$"


def mib(n: int) -> str:
    """Bytes in MiB, two decimals: how every memory figure is shown."""
    return f"{n / 2**20:.2f} MiB"


def short_number(n: float) -> str:
    """Three significant digits in K, M, G, T (powers of 1000): 118013952 -> '118M'."""
    if abs(n) < 1000:
        return str(int(n))
    for unit, size in (("K", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)):
        value = n / size
        if abs(value) < 999.5 or unit == "T":
            digits = 2 if abs(value) < 9.995 else 1 if abs(value) < 99.95 else 0
            return f"{value:.{digits}f}{unit}"
    raise AssertionError("unreachable")


def shorten_cell(text: str) -> str:
    """'236,027,904' -> '236M' and '9,472 ✓' -> '9.47K ✓'; other text as it is."""
    match = re.match(_NUMBER, text)
    if match is None:
        return text
    return short_number(int(match.group(1).replace(",", ""))) + match.group(2)


def wrap_text(text: str, width: int | None, indent: str = "") -> list[str]:
    """A paragraph as lines of at most `width` characters (one line when width is None)."""
    if width is None or len(text) <= width:
        return [text]
    import textwrap  # here: only a terminal narrower than the text needs it

    return textwrap.wrap(text, width, subsequent_indent=indent, break_on_hyphens=False,
                         break_long_words=False) or [""]


class TextTable:
    """A plain aligned table in the look of rich's SIMPLE_HEAD box.

    `numeric_from`: columns from this index on are right-aligned figures. `drop`: the column
    titles in the order they are left out when the table is too wide (default: right to left,
    all but the first). `wrap`: titles of columns whose text wraps instead.
    """

    def __init__(self, title: str | None, columns: Sequence[str], cells: list[list[str]],
                 numeric_from: int, *, drop: Sequence[str] | None = None,
                 wrap: Sequence[str] = ()):
        self.title, self.columns, self.cells = title, list(columns), cells
        self.numeric_from = numeric_from
        order = list(drop) if drop is not None else self.columns[:0:-1]
        self.drop_order = [self.columns.index(name) for name in order if name in self.columns]
        self.wrapped = {self.columns.index(name) for name in wrap}

    # -- choosing what to show ------------------------------------------------------------

    def _natural(self, column: int, short: bool) -> int:
        texts = [row[column] for row in self.cells]
        if short:
            texts = [shorten_cell(t) for t in texts]
        return max([len(self.columns[column]), *map(len, texts)])

    def _needed(self, shown: list[int], short: set[int]) -> int:
        """Width of the table with these columns, wrapped columns at their narrowest."""
        widths = [min(self._natural(c, c in short), MIN_WRAP) if c in self.wrapped
                  else self._natural(c, c in short) for c in shown]
        return 1 + sum(widths) + GAP * (len(shown) - 1)

    def layout(self, width: int | None) -> tuple[list[int], set[int], list[int]]:
        """The columns to show, the ones shortened to K/M/G, and the left-out ones."""
        shown, short = list(range(len(self.columns))), set()
        if width is None:
            return shown, short, []
        for column in self.drop_order:
            if self._needed(shown, short) <= width:
                break
            shown.remove(column)
        numeric = [c for c in shown if c >= self.numeric_from and c not in self.wrapped]
        saving = {c: self._natural(c, False) - self._natural(c, True) for c in numeric}
        for column in sorted(numeric, key=lambda c: -saving[c]):
            if self._needed(shown, short) <= width or saving[column] <= 0:
                break
            short.add(column)
        while len(shown) > 1 and self._needed(shown, short) > width:
            shown.pop()
        left_out = [c for c in range(len(self.columns)) if c not in shown]
        return shown, short, left_out

    # -- drawing --------------------------------------------------------------------------

    def lines(self, width: int | None = None) -> list[str]:
        shown, short, left_out = self.layout(width)
        rows = [[shorten_cell(r[c]) if c in short else r[c] for c in shown] for r in self.cells]
        widths = [max([len(self.columns[c]), *(len(r[i]) for r in rows)])
                  for i, c in enumerate(shown)]
        wrapped = [i for i, c in enumerate(shown) if c in self.wrapped]
        if wrapped and width is not None:  # narrow the wrapped columns, widest first
            deficit = 1 + sum(widths) + GAP * (len(shown) - 1) - width
            for i in sorted(wrapped, key=lambda i: -widths[i]):
                cut = max(min(deficit, widths[i] - MIN_WRAP), 0)
                widths[i] -= cut
                deficit -= cut

        aligned = [self._aligner(c) for c in shown]

        def line(texts: Sequence[str]) -> str:
            parts = [align(text, w) for align, text, w in zip(aligned, texts, widths)]
            return (" " + (" " * GAP).join(parts)).rstrip()

        def fmt(row: Sequence[str]) -> list[str]:
            if not wrapped:
                return [line(row)]
            columns = [wrap_text(text, widths[i]) if i in wrapped else [text]
                       for i, text in enumerate(row)]
            return [line([col[k] if k < len(col) else "" for col in columns])
                    for k in range(max(map(len, columns)))]

        rule = " " + "─" * (sum(widths) + GAP * (len(widths) - 1))
        head = [*wrap_text(self.title, width), ""] if self.title else []
        body = [line for row in rows for line in fmt(row)]
        foot = self._footer(width, short, left_out)
        return [*head, *fmt([self.columns[c] for c in shown]), rule, *body, *foot, ""]

    def _aligner(self, column: int) -> Callable[[str, int], str]:
        """How a column's cells are padded: text to the left, figures to the right."""
        left = column < self.numeric_from or column in self.wrapped
        return str.ljust if left else str.rjust

    def _footer(self, width: int | None, short: set[int], left_out: list[int]) -> list[str]:
        if not (short or left_out):
            return []
        parts = []
        if left_out:
            parts.append("left out " + ", ".join(self.columns[c] for c in left_out))
        if short:
            parts.append(", ".join(self.columns[c] for c in sorted(short))
                         + " in K/M/G (3 significant digits)")
        text = (f"To fit {width} columns: {'; '.join(parts)}. --wide shows every column, "
                "exact.")
        return ["", *(" " + line for line in wrap_text(text, (width or 80) - 1, "  "))]

    def render(self, width: int | None) -> str:
        return "\n".join(self.lines(width))

    def __str__(self) -> str:
        return self.render(None)


class KeyValues:
    """Labelled lines (the totals), values wrapping under themselves at the width."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self.pairs = pairs

    def lines(self, width: int | None = None) -> list[str]:
        key_width = max(len(k) for k, _ in self.pairs)
        room = None if width is None else max(width - key_width - GAP - 1, MIN_WRAP)
        out = []
        for key, value in self.pairs:
            for i, part in enumerate(wrap_text(value, room)):
                label = key if i == 0 else ""
                out.append(f" {label.ljust(key_width)}{' ' * GAP}{part}".rstrip())
        return [*out, ""]

    def render(self, width: int | None) -> str:
        return "\n".join(self.lines(width))

    def __str__(self) -> str:
        return self.render(None)
