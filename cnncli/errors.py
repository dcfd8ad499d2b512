"""Errors users see: one located sentence each, printed by the CLI with exit status 2."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mark:
    """A position in a spec file (1-based line and column, as editors count)."""

    file: str
    line: int
    col: int

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
