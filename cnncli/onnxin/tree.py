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
        "global_avgpool": "pool", "slice": "slice",
        "position_embedding": "pos_embedding"}  # torchvision's ViT's parameter's name


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
    scopes = _placed([_bounded([clean(p) for p in e.scope.split(".") if p]) for e in entries],
                     entries)
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
        name = _unique(stack[-1], scope[-1] if own else _auto_name(entry))
        stack[-1].items.append(Leaf(i, name))
        paths[i] = [b.name for b in stack[1:]] + [name]
    return root, paths


def _placed(scopes: list[list[str]], entries: list[Entry]) -> list[list[str]]:
    """An entry the exporter recorded no scope for (the dynamo exporter's chunk in YOLOv8's
    C2f) goes in the module the entries around it share: the one it reads from and the next
    one with a scope."""
    placed = list(scopes)
    for i, scope in enumerate(scopes):
        if scope or not entries[i].inputs or entries[i].inputs[0] < 0:
            continue
        before = placed[entries[i].inputs[0]]
        after = next((s for s in scopes[i + 1:] if s), [])
        common = 0
        while common < min(len(before), len(after)) and before[common] == after[common]:
            common += 1
        placed[i] = before[:common]
    return placed


def _auto_name(entry: Entry) -> str:
    """A name for an entry the exporter recorded no module for: what it does."""
    if entry.kind == "onnx_op":
        return clean(str(entry.options["op"]).lower())
    return AUTO.get(entry.kind, entry.kind)


def _bounded(scope: list[str]) -> list[str]:
    """At most MAX_DEPTH nested sequences: deeper module paths are joined into one name."""
    if len(scope) <= MAX_DEPTH:
        return scope
    return scope[:MAX_DEPTH - 1] + [clean("_".join(scope[MAX_DEPTH - 1:]))[:200]]


def _unique(box: Box, name: str) -> str:
    taken = {item.name for item in box.items}
    if name not in taken:
        return name
    stem = f"_{name}" if name.isdigit() else name  # "2_1" would be no name: "_2_1" is
    n = 1
    while f"{stem}_{n}" in taken:
        n += 1
    return f"{stem}_{n}"


class Unreachable(Exception):
    """No name reaches the target from where it is read: an earlier entry of a list in
    between has the name the reference would start with."""


def reference(target: int, consumer_box: list[str], paths: dict[int, list[str]],
              before: int | None = None) -> str:
    """How an entry in box `consumer_box` names entry `target`: its path from the deepest
    list the two share (`conv1`, `layer1.0.relu`), or `input`. With `before` (the reading
    entry), Unreachable where a name on the way would be found first."""
    if target == INPUT:
        return "input"
    path = paths[target]
    common = 0
    while common < len(consumer_box) and common < len(path) - 1 and \
            consumer_box[common] == path[common]:
        common += 1
    name = ".".join(path[common:])
    if before is not None and _shadowed(path[common], common, consumer_box, paths, before):
        raise Unreachable(name)
    return name


def _shadowed(head: str, common: int, box: list[str], paths: dict[int, list[str]],
              before: int) -> bool:
    """Whether an entry before `before`, in a list between box and the one at depth
    `common`, is named `head` (the spec's lookup finds the innermost first; an ancestor
    of the reader is named only once it is complete)."""
    for depth in range(common + 1, len(box) + 1):
        inner = box[:depth]
        if any(j < before and len(p) > depth and p[:depth] == inner and p[depth] == head
               and p[:depth + 1] != box[:depth + 1]  # inside the reader's own ancestor,
               for j, p in paths.items()):            # which has no name yet
            return True
    return False
