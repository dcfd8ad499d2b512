"""A zoo network's spec as one file that stands alone (`cnncli spec -o`): a family file's
variant written out as one network.

The family's text is kept (blocks, layers, comments); what the variant changes is written
where a person would edit it: its params as the top-level params, its input, description,
aliases, recipe and torchvision section at the top level, and `variants:` dropped. So an
edit to `depths:` takes effect, which a `variant:` line applying its values afterwards
would silently undo.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import SpecError
from .yamlsrc import YMap, parse_yaml, plain_scalar, read_text
from .zoo import ZooEntry, find, suggest

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def flow(value: Any) -> str:
    """A value as one line of YAML flow text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {flow(v)}" for k, v in value.items()) + "}"
    text = str(value)
    return text if _PLAIN.fullmatch(text) and plain_scalar(text) == text else json.dumps(text)


def eject(text: str, file: str, variant: str) -> str:
    """The family file's text with `variant` written in as its top-level values."""
    data = parse_yaml(text, file)
    own = data["variants"][variant] or YMap()
    lines: list[str | None] = list(text.splitlines())
    spans = _top_spans(data, lines)
    edits: dict[int, tuple[int, list[str]]] = {}  # first line -> (end line, new lines)

    def put(key: str, new: list[str], with_comments: bool = False) -> None:
        first, end = spans[key]
        edits[first if with_comments else data.key_marks[key].line - 1] = (end, new)

    head = [f"name: {flow(variant)}"]
    if own.get("aliases"):
        head.append(f"aliases: {flow(list(own['aliases']))}")
    for key in ("description", "input", "train", "torchvision"):
        if key not in own:
            continue
        value = own[key] if key != "train" else {**(data.get("train") or {}), **own["train"]}
        if key in spans:
            put(key, [f"{key}: {flow(value)}"])
        else:  # a key only the variant sets: beside the name
            head.append(f"{key}: {flow(value)}")
    out: list[str] = []
    if "name" in data:
        edits[data.key_marks["name"].line - 1] = (data.key_marks["name"].line, head)
    else:
        out.extend(head)
    _set_values(data.get("params"), own.get("params") or {}, lines)
    for key in ("aliases", "variants", "variant"):
        if key in spans:
            put(key, [], with_comments=key != "aliases")
    i = 0
    while i < len(lines):
        end, new = edits.get(i, (i, []))
        out.extend(new)
        if end > i:
            i = end
            continue
        if lines[i] is not None:
            out.append(lines[i])  # type: ignore[arg-type]
        i += 1
    return "\n".join(out).rstrip("\n") + "\n"


def _top_spans(data: YMap, lines: list[str | None]) -> dict[str, tuple[int, int]]:
    """Each top-level key's lines (0-based, end exclusive), from the comments just above it."""
    keys = sorted(data, key=lambda k: data.key_marks[k].line)
    firsts, floor = [], 0
    for key in keys:
        line = first = data.key_marks[key].line - 1
        while first > floor and (not (lines[first - 1] or "").strip()
                                 or (lines[first - 1] or "").lstrip().startswith("#")):
            first -= 1
        firsts.append(first)
        floor = line + 1
    ends = [*firsts[1:], len(lines)]
    return {key: (first, end) for key, first, end in zip(keys, firsts, ends)}


def _set_values(box: Any, values: dict[str, Any], lines: list[str | None]) -> None:
    """Write each value over the one in `box` in place, keeping the line's comment; the
    lines of a value that spanned several become None."""
    if not values:
        return
    if not isinstance(box, YMap):
        raise SpecError("a variant sets params the family file does not declare")
    for key, value in values.items():
        line = box.value_marks[key].line - 1
        col = box.value_marks[key].col - 1
        rest, comment = _split_comment(lines[line][col:])  # type: ignore[index]
        single = (box.key_marks[key].line - 1 == line and _balanced(rest)
                  and not rest.startswith(("&", "|", ">", "!")))  # an anchor, block or tag
        if single:
            lines[line] = (lines[line] or "")[:col] + flow(value) + comment
            continue
        key_line = box.key_marks[key].line - 1
        text = lines[key_line] or ""
        indent = text[:len(text) - len(text.lstrip())]
        end = key_line + 1
        while end < len(lines) and _inside(lines[end], len(indent)):
            end += 1
        lines[key_line] = f"{indent}{key}: {flow(value)}"
        for n in range(key_line + 1, end):
            lines[n] = None


def _inside(line: str | None, indent: int) -> bool:
    """Whether a line continues a value whose key is indented `indent` spaces."""
    text = line or ""
    return not text.strip() or len(text) - len(text.lstrip()) > indent


def _split_comment(text: str) -> tuple[str, str]:
    """A value's text and its trailing `  # comment`, outside quotes."""
    quote = ""
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and i > 0 and text[i - 1] in " \t":
            j = i
            while j > 0 and text[j - 1] in " \t":
                j -= 1
            return text[:j], text[j:]
    return text.rstrip(), ""


def _balanced(text: str) -> bool:
    return text.count("[") == text.count("]") and text.count("{") == text.count("}")


def standalone_text(name: str) -> tuple[ZooEntry, str]:
    """A zoo network's spec as one file a user can keep and edit: the zoo file's own text,
    or, for one variant of a family, the family's text with the variant's values written in
    as its top-level values (no `variants:`), so that every value in it takes effect."""
    entry = find(name)
    if entry is None:
        raise SpecError(f"no zoo network named {name!r}{suggest(name)}; `cnncli list` shows "
                        "the zoo")
    text = read_text(str(entry.file))
    data = parse_yaml(text, str(entry.file))
    if isinstance(data, YMap) and "include" in data:  # no zoo spec does yet; say so if one will
        raise SpecError(f"the zoo's {entry.file.name} includes other files; copy the folder "
                        f"{entry.file.parent} instead")
    if entry.variant is None:
        return entry, text
    header = (f"# The zoo's {entry.name}: the {entry.file.name} family with the values of its "
              f"{entry.variant} variant\n# written in; every value below takes effect.\n")
    return entry, header + eject(text, str(entry.file), entry.variant)
