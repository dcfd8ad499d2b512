"""Safe YAML reading that keeps file:line:col for every value.

PyYAML's constructors drop positions and have traps (duplicate keys silently win, `yes` is a
boolean, `1e-3` is a string, Python tags). So we read the parser's event stream ourselves and
build plain containers that remember where each value came from:

- mappings become `YMap` (a dict with `.mark`, `.key_marks`, `.value_marks`);
- sequences become `YList` (a list with `.mark` and `.item_marks`);
- plain scalars resolve to int, float, bool (`true`/`false` only), None or str;
  quoted ones stay str;
- any explicit tag other than the core schema's (`!!str`, `!!int`, …) is refused;
- aliases may share a value, but the expanded document is bounded (no "billion laughs");
- size and nesting are bounded, so hostile input fails fast with a located message.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..errors import Mark, SpecError
from .yamlwords import plain_words

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000

_CORE = "tag:yaml.org,2002:"
_INT = re.compile(r"[-+]?[0-9][0-9_]*")
_FLOAT = re.compile(r"[-+]?([0-9][0-9_]*\.?[0-9_]*|\.[0-9][0-9_]*)([eE][-+]?[0-9]+)?")
_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_SPECIAL_FLOATS = {
    **{f"{sign}{word}": float(f"{sign or '+'}inf") for sign in ("", "+", "-")
       for word in (".inf", ".Inf", ".INF")},
    **{word: float("nan") for word in (".nan", ".NaN", ".NAN")},
}
#: YAML 1.1 read these as booleans; cnncli reads them as text and says so where it matters.
YAML11_BOOLEANS = {"yes", "no", "on", "off", "y", "n", "Yes", "No", "On", "Off", "YES", "NO",
                   "ON", "OFF", "Y", "N"}

_Parser: Any = getattr(yaml, "CBaseLoader", None) or yaml.BaseLoader


class YMap(dict):
    """A mapping read from YAML; knows where it, its keys and its values are."""

    mark: Mark
    key_marks: dict[str, Mark]
    value_marks: dict[str, Mark]
    #: keys a merge key (`<<: *defaults`) copied in, which a key of its own may still set
    merged: frozenset[str] | set[str] = frozenset()

    def mark_of(self, key: str) -> Mark:
        return self.value_marks.get(key, self.mark)


class YList(list):
    """A sequence read from YAML; knows where it and each item are."""

    mark: Mark
    item_marks: list[Mark]

    def mark_of(self, index: int) -> Mark:
        return self.item_marks[index] if index < len(self.item_marks) else self.mark


def type_word(value: Any) -> str:
    """'a list', 'a mapping', 'text', 'a number', … for messages about wrong types."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "text" if isinstance(value, str) else "nothing (null)"


def plain_scalar(text: str) -> Any:
    """Resolve an unquoted scalar: null, true/false, int, float, else the string itself.

    `yes`, `no`, `on` and `off` stay strings (YAML 1.1 made them booleans; we do not).
    """
    if text in _NULLS:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT.fullmatch(text):
        return int(text.replace("_", ""))
    if _FLOAT.fullmatch(text) and any(ch.isdigit() for ch in text):
        return float(text.replace("_", ""))
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    return text


def _tagged_scalar(tag: str, text: str, mark: Mark) -> Any:
    kind = tag[len(_CORE):] if tag.startswith(_CORE) else None
    if kind == "str":
        return text
    if kind in ("int", "float", "bool", "null"):
        value = plain_scalar(text)
        expected = {"int": int, "float": (int, float), "bool": bool, "null": type(None)}[kind]
        if isinstance(value, expected) and not (kind != "bool" and isinstance(value, bool)):
            return float(value) if kind == "float" else value
        raise SpecError(f"{text!r} is not a valid !!{kind}", mark)
    raise SpecError(f"YAML tag {tag!r} is not allowed in a spec (only plain data is read)", mark)


#: events that hold no value: the stream's ends, a document's end
_SKIPPED = {yaml.StreamStartEvent, yaml.StreamEndEvent, yaml.DocumentEndEvent}


class _Builder:
    """Turns the parser's event stream into YMap/YList/scalars with bounded expansion."""

    def __init__(self, file: str):
        self.file = file
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.nodes = 0

    def count(self, n: int, mark: Mark) -> None:
        self.nodes += n
        if self.nodes > MAX_NODES:
            raise SpecError(
                f"document expands to more than {MAX_NODES:,} values "
                "(an alias bomb or a runaway file?)", mark)

    def build(self, events: Any) -> Any:
        stack: list[list[Any]] = []  # frames: [container, size, anchor, pending_key, key_mark]
        root: Any = None
        done = False
        file = self.file
        for event in events:
            kind = type(event)  # libyaml's and PyYAML's parsers make exactly these classes
            if kind in _SKIPPED:
                continue
            if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                value, size, anchor, _, _ = stack.pop()
                mark = value.mark  # a list or mapping is located where it starts
            else:
                start = event.start_mark
                mark = Mark(file, start.line + 1, start.column + 1)
                if kind is yaml.ScalarEvent:
                    value = self._scalar(event, mark, bool(stack) and _wants_key(stack[-1]))
                    size, anchor = 1, event.anchor
                    self.count(1, mark)
                elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                    box = self._open(event, mark, len(stack))
                    stack.append([box, 1, event.anchor, None, None])
                    self.count(1, mark)
                    continue
                elif kind is yaml.AliasEvent:
                    if event.anchor not in self.anchors:
                        raise SpecError(f"alias *{event.anchor} refers to no earlier anchor",
                                        mark)
                    value, size = self.anchors[event.anchor]
                    self.count(size, mark)
                    anchor = None
                else:  # DocumentStartEvent
                    if done:
                        raise SpecError("a spec file holds one YAML document, found a second",
                                        mark)
                    continue
            if anchor is not None:
                self.anchors[anchor] = (value, size)
            if not stack:
                root, done = value, True
                continue
            self._attach(stack[-1], value, size, mark)
        return root

    def _open(self, event: Any, mark: Mark, depth: int) -> YMap | YList:
        """The empty mapping or list a start event opens, `depth` levels down."""
        self._check_tag(event, mark)
        if depth >= MAX_DEPTH:
            raise SpecError(f"nesting deeper than {MAX_DEPTH} levels", mark)
        box: YMap | YList
        if type(event) is yaml.MappingStartEvent:
            box = YMap()
            box.key_marks, box.value_marks = {}, {}
        else:
            box = YList()
            box.item_marks = []
        box.mark = mark
        return box

    def _check_tag(self, event: Any, mark: Mark) -> None:
        tag = event.tag
        if tag and tag not in (_CORE + "map", _CORE + "seq", _CORE + "str", "!"):
            raise SpecError(f"YAML tag {tag!r} is not allowed in a spec (only plain data is read)",
                            mark)

    def _scalar(self, event: Any, mark: Mark, is_key: bool) -> Any:
        if event.tag and event.tag != "!":
            return _tagged_scalar(event.tag, event.value, mark)
        if is_key or event.style in ("'", '"', "|", ">"):
            return event.value
        return plain_scalar(event.value)

    def _attach(self, frame: list[Any], value: Any, size: int, mark: Mark) -> None:
        box = frame[0]
        frame[1] += size
        if isinstance(box, YList):
            box.append(value)
            box.item_marks.append(mark)
            return
        if frame[3] is None:  # this value is a key
            if not isinstance(value, str):
                raise SpecError("mapping keys must be plain names, not lists or mappings", mark)
            frame[3], frame[4] = value, mark
            return
        key, key_mark = frame[3], frame[4]
        frame[3] = None
        if key == "<<":
            _merge(box, value, mark)
            return
        merged = box.merged
        if key in box and key not in merged:
            first = box.key_marks[key]
            raise SpecError(f"duplicate key {key!r} (first given at line {first.line})", key_mark)
        box[key] = value
        box.key_marks[key] = key_mark
        box.value_marks[key] = mark
        if key in merged:
            merged.discard(key)  # type: ignore[union-attr]  # a set once a merge copied keys


def _wants_key(frame: list[Any]) -> bool:
    return isinstance(frame[0], YMap) and frame[3] is None


def _merge(box: YMap, value: Any, mark: Mark) -> None:
    """YAML merge keys (`<<: *defaults`): copy keys the mapping does not set itself."""
    sources = value if isinstance(value, YList) else [value]
    merged = set(box.merged)
    for source in sources:
        if not isinstance(source, YMap):
            raise SpecError("a merge key (<<) takes a mapping or a list of mappings", mark)
        for key, item in source.items():
            if key not in box:
                box[key] = item
                box.key_marks[key] = source.key_marks[key]
                box.value_marks[key] = source.value_marks[key]
                merged.add(key)
    box.merged = merged


def parse_yaml(text: str, file: str) -> Any:
    """Parse one YAML document into located plain data, or raise a located SpecError."""
    if len(text) > MAX_BYTES:
        raise SpecError(f"file is larger than {MAX_BYTES // (1024 * 1024)} MiB; "
                        "a spec should be far smaller", Mark(file, 1, 1))
    try:
        return _Builder(file).build(_events(text))
    except yaml.MarkedYAMLError as exc:
        m = exc.problem_mark or exc.context_mark
        if exc.context_mark is not None and m is not None and m.index >= len(text.rstrip()):
            m = exc.context_mark  # ran off the end: the unclosed quote or bracket is the news
        mark = Mark(file, m.line + 1, m.column + 1) if m else Mark(file, 1, 1)
        raise SpecError(plain_words(exc, text, m), mark) from None
    except yaml.reader.ReaderError as exc:
        position = exc.position
        if _Parser is not yaml.BaseLoader:  # libyaml counts bytes of UTF-8, not characters
            position = len(text.encode("utf-8")[:position].decode("utf-8", "ignore"))
        line = text.count("\n", 0, position) + 1
        col = position - (text.rfind("\n", 0, position) + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise SpecError(f"character U+{code:04X} is not allowed in YAML ({exc.reason})",
                        Mark(file, line, col)) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML error: {exc}", Mark(file, 1, 1)) from None


def _events(text: str) -> Any:
    parser = _Parser(text)
    try:
        yield from iter(parser.get_event, None)  # None once the stream has ended
    finally:
        parser.dispose()


def first_content_mark(text: str, file: str) -> Mark:
    """Where a document's content starts: the first line that is not blank or a comment."""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and stripped not in ("---", "..."):
            return Mark(file, number, len(line) - len(line.lstrip()) + 1)
    return Mark(file, 1, 1)


BOM = b"\xef\xbb\xbf"


def read_text(path: str) -> str:
    """A spec file's text; errors name the file."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read spec file: {exc.strerror}", Mark(path, 1, 1)) from None
    bom = len(BOM) if raw.startswith(BOM) else 0  # an editor's byte-order mark: not text
    try:
        return raw[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = bom + exc.start  # the offset in the file, as a hex editor shows it
        line_start = max(raw.rfind(b"\n", 0, at) + 1, bom)
        col = len(raw[line_start:at].decode("utf-8", "replace")) + 1
        mark = Mark(path, raw.count(b"\n", 0, at) + 1, col)
        raise SpecError(f"not UTF-8 text (a binary file?): byte 0x{raw[at]:02x} at offset "
                        f"{at} cannot be decoded", mark) from None


def read_yaml_file(path: str) -> Any:
    """Read a spec file as located plain data; errors name the file."""
    return parse_yaml(read_text(path), path)
