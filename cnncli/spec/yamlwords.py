"""PyYAML's scanner and parser errors, said in plain words.

PyYAML reports what its grammar expected (`mapping values are not allowed in this context`);
a person needs what they wrote wrong and how to mend it. Each common error is matched by its
problem text and the character it stopped at; the rest keep PyYAML's words after
"YAML syntax error:". The caller keeps the file:line:col.
"""

from __future__ import annotations

import re
from typing import Any

_OPENERS = {"flow sequence": "[", "flow mapping": "{"}


def plain_words(exc: Any, text: str, shown: Any = None) -> str:
    """One sentence for a yaml.MarkedYAMLError raised while reading `text`; `shown` is the
    mark the error is located at (where an opening is itself the location, "here")."""
    problem = exc.problem or exc.context or ""
    context = exc.context or ""
    char = _char_at(text, exc.problem_mark)
    opened = "here" if shown is exc.context_mark else f"at {_where(exc.context_mark)}"
    if problem == "found character that cannot start any token":
        if char == "\t":
            return "a tab is used for indentation here; YAML needs spaces"
        return (f"a value cannot start with {char!r} (YAML reserves it): put the value in "
                "quotes")
    if problem == "mapping values are not allowed in this context":
        if _colon_before(text, exc.problem_mark):
            return ("a colon inside a value: put the value in quotes, or the key on a line "
                    "of its own")
        glued = _glued_colon(text, exc.problem_mark)
        if glued:
            key, value = glued
            return (f"the line above writes {key}:{value} with no space after the colon, so "
                    f"YAML reads it as text, not a key: write {key}: {value}")
        return ("a key where the line above has not ended its value: check this line's "
                "indentation, or the colon the line above is missing")
    if problem.startswith("did not find expected ',' or"):
        bracket = _OPENERS.get(context.removeprefix("while parsing a "), "bracket")
        return (f"the {bracket!r} opened {opened} is not closed, or a ',' is missing "
                "between its items")
    if context == "while scanning a quoted scalar":
        return f"the quote opened {opened} is never closed"
    if problem == "did not find expected key":
        return _not_a_key(char, _line(text, exc.problem_mark)[:exc.problem_mark.column])
    if problem == "block sequence entries are not allowed in this context":
        return ("a list item ('- ') on the same line as its key: start the list on the next "
                "line, indented, or write it as [a, b]")
    if problem == "could not find expected ':'":
        return f"the key {opened} has no colon: write `key: value`"
    if context == "while scanning an alias":
        return "'*' starts an alias (*name) in YAML: put the value in quotes"
    return f"YAML syntax error: {problem}"


def _not_a_key(char: str, before: str) -> str:
    if before.strip() and before.rstrip()[-1] in "'\"":
        return "text after a quoted value: put the whole value inside the quotes"
    if char in ("]", "}"):
        return f"a closing {char!r} with no bracket open: remove it"
    if char == "-":
        return ("a list item indented differently from the items above it: line the '- ' up "
                "with theirs")
    return ("this line's indentation matches none of the keys above it: indent it as far as "
            "the keys it belongs with")


def _line(text: str, mark: Any) -> str:
    lines = text.splitlines()
    return lines[mark.line] if mark is not None and mark.line < len(lines) else ""


def _char_at(text: str, mark: Any) -> str:
    line = _line(text, mark)
    return line[mark.column] if mark is not None and mark.column < len(line) else ""


def _colon_before(text: str, mark: Any) -> bool:
    """Whether the line already has a key's colon before this one (`a: b: c`)."""
    return mark is not None and ": " in _line(text, mark)[:mark.column - 1]


def _glued_colon(text: str, mark: Any) -> tuple[str, str] | None:
    """(key, value) where the nearest line above is just `key:value` (no space)."""
    lines = text.splitlines()
    for line in reversed(lines[:mark.line] if mark is not None else []):
        if line.strip() and not line.lstrip().startswith("#"):
            found = re.fullmatch(r"(?:- )?([A-Za-z_][\w.-]*):([^\s:/][^\s:]*)", line.strip())
            return (found[1], found[2]) if found else None
    return None


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "above"
