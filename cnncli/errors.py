"""Errors users see: one located sentence each, printed by the CLI with exit status 2.

Also the wording helpers every part of the tool uses in its messages; `tell`, through which
library code gives a note or warning (a `warnings` category, so library calls print nothing);
and `show`, which prints such a line on stderr, as the CLI does with every one it catches.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from .records import Frozen


class Mark(Frozen):
    """A position in a spec file (1-based line and column, as editors count)."""

    file: str
    line: int
    col: int

    def __init__(self, file: str, line: int, col: int) -> None:
        self._set(file=file, line=line, col=col)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class CnncliError(Exception):
    """An error caused by the user's input; the CLI prints it and exits with status 2."""

    exit_code = 2

    def __init__(self, message: str, mark: Mark | None = None, path: str | None = None):
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.path = path

    def __str__(self) -> str:
        where = []
        if self.mark is not None:
            where.append(str(self.mark))
        if self.path:
            where.append(f"layer {self.path}")
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class SpecError(CnncliError):
    """A spec that cannot be read, resolved or analyzed."""


class UsageError(CnncliError):
    """A bad command-line option or value."""


def did_you_mean(word: str, choices: Iterable[str], n: int = 1) -> str:
    """' (did you mean 'x'?)' for the closest choice (or the n closest: 'x', 'y' or 'z'),
    or '' when none is close."""
    import difflib  # here, as shutil and textwrap in show: every command imports this module

    close = difflib.get_close_matches(word, list(dict.fromkeys(choices)), n=n, cutoff=0.6)
    if not close:
        return ""
    best = difflib.SequenceMatcher(None, word, close[0]).ratio()
    # only the ones about as close as the best: 'rleu' means relu, not relu6 too
    close = [c for c in close if difflib.SequenceMatcher(None, word, c).ratio() >= best - 0.05]
    quoted = [repr(c) for c in close]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f" (did you mean {listed}?)"


def yaml_repr(value: Any) -> str:
    """A value as a spec would write it: true/false/null, not Python's True/False/None."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_repr(v) for v in value) + "]"
    return repr(value)


class CnncliNote(UserWarning):
    """A choice cnncli made for the user (a fallback, a file it picked): `note: ...`."""

    kind = "note"


class CnncliWarning(UserWarning):
    """Something in a spec that is probably not what its author meant: `warning: ...`."""

    kind = "warning"


NOTICES: dict[str, type[CnncliNote | CnncliWarning]] = {"note": CnncliNote,
                                                        "warning": CnncliWarning}


def tell(kind: str, message: str) -> None:
    """A note or warning, through the `warnings` module: the CLI shows it on stderr
    (`shown_on_stderr`), a library caller filters or records it as any warning. Any other
    kind (an error) is shown at once."""
    category = NOTICES.get(kind)
    if category is None:
        show(kind, message)
        return
    warnings.warn(category(message), stacklevel=3)


def show(kind: str, message: str) -> None:
    """`kind: message` on stderr (never stdout: it may be JSON). In a terminal the message
    wraps at the window's width under its first word, never inside a path or a number."""
    import shutil
    import textwrap

    text = f"{kind}: {message}"
    width = shutil.get_terminal_size().columns if sys.stderr.isatty() else None
    if width is not None and len(text) > width:
        text = "\n".join(textwrap.wrap(text, width, subsequent_indent="  ",
                                       break_long_words=False, break_on_hyphens=False))
    print(text, file=sys.stderr, flush=True)


@contextmanager
def shown_on_stderr() -> Iterator[None]:
    """Within: every cnncli note and warning is shown with `show`, each time it is given
    (the CLI's view of them); other warnings keep Python's handling."""
    with warnings.catch_warnings():
        for category in NOTICES.values():
            warnings.simplefilter("always", category)
        default = warnings.showwarning

        def display(message: Warning | str, category: type[Warning], filename: str,
                    lineno: int, file: Any = None, line: str | None = None) -> None:
            if issubclass(category, (CnncliNote, CnncliWarning)):
                show(category.kind, str(message))
            else:
                default(message, category, filename, lineno, file, line)

        warnings.showwarning = display
        yield
