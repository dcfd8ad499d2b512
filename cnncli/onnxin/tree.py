"""Entries placed in the module tree the exporter recorded (`layer1.0.conv1` goes into
sequence `layer1`, then `0`, named `conv1`), so an imported spec reads like the network's
source and its parameters keep their torch names; and the references (`from:`) between
them, written relative to where each entry stands."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .graph import INPUT, Entry

MAX_DEPTH = 24  # nesting of the written spec (torch's deepest zoo paths have 8 parts)
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*|[0-9]+")
#: words an entry may not take: the network's input, and composite keys
RESERVED = {"input", "sequence", "residual", "concat", "repeat", "gate", "add", "multiply"}
#: a name for an entry the exporter recorded no module of its own for
AUTO = {"add": "add", "multiply": "mul", "concat": "cat", "flatten": "flatten",
        "global_avgpool": "pool", "slice": "slice", "onnx_op": "op"}


@dataclass
class Leaf:
    entry: int
    name: str


@dataclass
class Box:
    """A container: a sequence in the spec."""

    name: str
    items: list[Leaf | Box] = field(default_factory=list)

    def last(self) -> int:
        item = self.items[-1]
        return item.entry if isinstance(item, Leaf) else item.last()


def clean(part: str) -> str:
    """A module name as a spec name: letters, digits, _ and -, not starting with a digit or
    -, unless it is a whole number."""
    if NAME_RE.fullmatch(part) and part not in RESERVED:
        return part
    text = re.sub(r"[^A-Za-z0-9_-]", "_", part) or "_"
    return text if re.match(r"[A-Za-z_]", text) and text not in RESERVED else "_" + text


def build(entries: list[Entry]) -> tuple[Box, dict[int, list[str]]]:
    """The tree and each entry's path (names from the top)."""
    scopes = [_bounded([clean(p) for p in e.scope.split(".") if p]) for e in entries]
    containers = {tuple(s[:k]) for s in scopes for k in range(1, len(s))}
    root = Box("")
    paths: dict[int, list[str]] = {}
    stack: list[Box] = [root]
    opened: list[list[str]] = [[]]  # the scope each open box stands for
    for i, (entry, scope) in enumerate(zip(entries, scopes)):
        own = tuple(scope) not in containers and scope
        where = scope[:-1] if own else scope
        while opened[-1] != where[:len(opened[-1])]:  # leave boxes this entry is not in
            stack.pop()
            opened.pop()
        for part in where[len(opened[-1]):]:
            box = Box(_unique(stack[-1], part))
            stack[-1].items.append(box)
            stack.append(box)
            opened.append(opened[-1] + [part])
        name = _unique(stack[-1], scope[-1] if own else AUTO.get(entry.kind, entry.kind))
        stack[-1].items.append(Leaf(i, name))
        paths[i] = [b.name for b in stack[1:]] + [name]
    return root, paths


def _bounded(scope: list[str]) -> list[str]:
    """At most MAX_DEPTH nested sequences: deeper module paths are joined into one name."""
    if len(scope) <= MAX_DEPTH:
        return scope
    return scope[:MAX_DEPTH - 1] + [clean("_".join(scope[MAX_DEPTH - 1:]))[:200]]


def _unique(box: Box, name: str) -> str:
    taken = {item.name for item in box.items}
    if name not in taken:
        return name
    n = 1
    while f"{name}_{n}" in taken:
        n += 1
    return f"{name}_{n}"


def reference(target: int, consumer_box: list[str], paths: dict[int, list[str]]) -> str:
    """How an entry in box `consumer_box` names entry `target`: its path from the deepest
    list the two share (`conv1`, `layer1.0.relu`), or `input`."""
    if target == INPUT:
        return "input"
    path = paths[target]
    common = 0
    while common < len(consumer_box) and common < len(path) - 1 and \
            consumer_box[common] == path[common]:
        common += 1
    return ".".join(path[common:])
