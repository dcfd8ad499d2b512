"""An imported network written as a spec: the module tree as nested sequences, `from:`
where an entry reads anything but the entry before it, and runs of identical repeated units
(a ResNet stage's blocks 1, 2, ...) as a block defined once and a `repeat` of it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from . import tree
from .graph import INPUT, Entry
from .tree import Box, Leaf

JOINS = ("add", "multiply", "concat")
INDENT = "  "


class NotLocal(Exception):
    """A unit reads a tensor from outside itself other than its input: no block."""


@dataclass
class Writer:
    entries: list[Entry]
    paths: dict[int, list[str]]
    blocks: dict[str, str] = field(default_factory=dict)  # body text -> block name
    block_names: set[str] = field(default_factory=set)

    def items(self, box: Box, where: list[str], implicit: int, depth: int,
              unit: tuple[list[str], int] | None = None) -> list[str]:
        """The lines of `box`'s items at `depth`; `unit` = (its path, its input) while
        writing a block's body."""
        lines: list[str] = []
        pad = INDENT * depth
        at = 0
        while at < len(box.items):
            run, body = (1, None) if unit else self.run_length(box, at, where, implicit)
            item = box.items[at]
            if run > 1 and body is not None:
                name = self.block_for(body, where)
                lines.append(f"{pad}- repeat: {{count: {run}, inline: true, body: {name}}}"
                             f"  # {where_text(where, box.items[at].name)} ... "
                             f"{where_text(where, box.items[at + run - 1].name)}")
                implicit = box.items[at + run - 1].last()
                at += run
                continue
            named = None if unit or isinstance(item, Leaf) else \
                self.named_run(item, where + [item.name], implicit)
            if isinstance(item, Leaf):
                lines.append(pad + "- " + self.entry(item, where, implicit, unit))
                implicit = item.entry
            elif named is not None:
                prefix, start, body = named
                block = self.block_for(body, where + [item.name])
                lines.append(f"{pad}- repeat: {{name: {item.name}, count: {len(item.items)}, "
                             f"prefix: {prefix}, start: {start}, body: {block}}}  # "
                             f"{where_text(where + [item.name], item.items[0].name)} ... "
                             f"{item.items[-1].name}")
                implicit = item.last()
            else:
                lines += [f"{pad}- sequence:", f"{pad}{INDENT*2}name: {item.name}",
                          f"{pad}{INDENT*2}layers:"]
                lines += self.items(item, where + [item.name], implicit, depth + 3, unit)
                implicit = item.last()
            at += 1
        return lines

    def entry(self, leaf: Leaf, where: list[str], implicit: int,
              unit: tuple[list[str], int] | None) -> str:
        entry = self.entries[leaf.entry]
        options: dict[str, Any] = dict(entry.options)
        options["name"] = leaf.name
        reader = leaf.entry
        if entry.kind in JOINS:
            options["from"] = [self.ref(i, where, unit, reader) for i in entry.inputs]
        elif entry.inputs and entry.inputs[0] != implicit:
            options["from"] = self.ref(entry.inputs[0], where, unit, reader)
        if entry.owner is not None:
            try:
                options["shares"] = self.ref(entry.owner, where, unit, reader, sharing=True)
            except tree.Unreachable:
                entry.owner = None  # its own copy: the note on shared weights says so
        text = f"{entry.kind}: {flow(options)}"
        if entry.kind == "onnx_op":
            text += f"  # not priced: {entry.note}"
        return text

    def ref(self, target: int, where: list[str], unit: tuple[list[str], int] | None,
            reader: int, sharing: bool = False) -> str:
        """How entry `reader` in box `where` names entry `target` (a block body's input
        as `input`); NotLocal in a body that reads from outside it."""
        if unit is not None:
            root, given = unit
            if target == given and not sharing:
                return "input"
            if target == INPUT or self.paths[target][:len(root)] != root:
                raise NotLocal
        try:
            return tree.reference(target, where, self.paths, reader)
        except tree.Unreachable as exc:
            if sharing:
                raise
            raise UsageError(f"the imported spec cannot name {exc} where "
                             f"{'.'.join(self.paths[reader])} reads it: an earlier entry on "
                             "the way has the same name") from None

    def run_length(self, box: Box, at: int, where: list[str],
                   implicit: int) -> tuple[int, str | None]:
        """How many units from `at` on are the same block, each reading the one before
        (named by their positions, as an inline repeat names them), and the body they share
        (None: the unit reads more than its input, so it is no block)."""
        first = box.items[at]
        if not isinstance(first, Box) or first.name != str(at):
            return 1, None
        body = self.body(first, where, implicit)
        run, previous = 1, first
        while body is not None and at + run < len(box.items):
            nxt = box.items[at + run]
            if not isinstance(nxt, Box) or nxt.name != str(at + run) or \
                    self.body(nxt, where, previous.last()) != body:
                break
            run, previous = run + 1, nxt
        return run, body

    def named_run(self, box: Box, where: list[str],
                  implicit: int) -> tuple[str, int, str] | None:
        """A module whose units are all one block, each reading the one before, named
        prefix0, prefix1, ... (ViT's encoder_layer_0 ...): (prefix, first number, body)."""
        found = [re.fullmatch(r"(.*[^0-9])([0-9]+)", item.name) if isinstance(item, Box)
                 else None for item in box.items]
        if len(found) < 2 or any(m is None for m in found):
            return None
        prefix, start = found[0].group(1), int(found[0].group(2))  # type: ignore[union-attr]
        if any(m.group(1) != prefix or int(m.group(2)) != start + k  # type: ignore[union-attr]
               for k, m in enumerate(found)) or not tree.NAME_RE.fullmatch(prefix + "0"):
            return None
        body = self.body(box.items[0], where, implicit)  # type: ignore[arg-type]
        for previous, unit in zip(box.items, box.items[1:]):
            if body is None or self.body(unit, where, previous.last()) != body:  # type: ignore[arg-type]
                return None
        return prefix, start, body

    def body(self, unit: Box, where: list[str], given: int) -> str | None:
        try:
            return "\n".join(self.items(unit, where + [unit.name], given, 3,
                                        (where + [unit.name], given)))
        except NotLocal:
            return None

    def block_for(self, body: str, where: list[str]) -> str:
        """The block whose body is `body`, defined on first use, named after where it is."""
        if body not in self.blocks:
            base = name = tree.clean("_".join(where or ["unit"]) + "_unit")
            n = 1
            while name in self.block_names:
                n += 1
                name = f"{base}_{n}"
            self.blocks[body] = name
            self.block_names.add(name)
        return self.blocks[body]


def where_text(where: list[str], name: str) -> str:
    return ".".join([*where, name])


def spec_text(entries: list[Entry], shape: tuple[int, ...], outputs: list[int],
              name: str, description: str, header: list[str]
              ) -> tuple[str, dict[int, list[str]]]:
    """The spec's text, and each entry's path in the network it describes."""
    root, paths = tree.build(entries)
    writer = Writer(entries, paths)
    layers = writer.items(root, [], INPUT, 1)
    lines = [f"# {line}" if line else "#" for line in header]
    lines += [f"name: {flow_value(name)}", f"description: {flow_value(description)}",
              f"input: {flow_value(list(shape))}"]
    if writer.blocks:
        lines.append("blocks:")
        for body, block in writer.blocks.items():
            lines += [f"{INDENT}{block}:", f"{INDENT*2}layers:", body]
    lines += ["layers:", *layers]
    last = root.last() if root.items else INPUT
    if outputs != [last]:
        lines.append("outputs: " + flow_value([tree.reference(o, [], paths) for o in outputs]))
    # a repeat's units keep their positions as names, so the tree's paths are the network's
    return "\n".join(lines) + "\n", paths


def flow(options: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {flow_value(v)}" for k, v in options.items()) + "}"


def flow_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if "e" in text and "." not in text.split("e")[0]:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}.0e{exponent}"  # YAML reads 1e-05 as text, 1.0e-05 as a number
        return text
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow_value(v) for v in value) + "]"
    text = str(value)
    if re.fullmatch(r"[0-9.]+", text) and "." in text:
        return "'" + text + "'"  # a dotted path of indices, which YAML would read as a number
    if tree.NAME_RE.fullmatch(text) or all(tree.NAME_RE.fullmatch(p) for p in text.split(".")):
        return text
    return "'" + text.replace("'", "''") + "'"
