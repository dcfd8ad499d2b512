"""The graph form of the language: entries that read named earlier outputs (`from:`), joins
of several of them (`add`, `multiply`, `concat` with `from:`), sizes taken from another
tensor (`like:`) and a network's named `outputs:`.

A name is an earlier entry's name in the same list or an enclosing one (a block body sees
only its own inputs), or `input`; a dotted name reaches into a composite or block call
(`stage2.conv`), as paths do, and `NAME.*` stands for every part of a composite in order
(the outputs of a repeat's items, as YOLOv8's C2f joins them). The resolver records what
a node reads as `sources` (paths).
"""

from __future__ import annotations

from typing import Any

from ..errors import Mark, SpecError
from ..layers import Shape, shape_text
from .ir import INPUT, UNNAMED, Join, Node, written
from .yamlsrc import YList, YMap


def input_node(shape: Shape, path: str = INPUT, name: str = "input") -> Node:
    """A stand-in node for a tensor that no entry of this list made (the network's input,
    a block's input): what a reference needs of it is its path and shape."""
    return Node(name=name, path=path, mark=Mark("", 0, 0), frozen=False, input=shape,
                output=shape)


def names_of(raw: Any) -> list[str]:
    """The `from:` value as a list of names (a name, a whole number, or a list of them)."""
    items = list(raw) if isinstance(raw, list) else [raw]
    names = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise TypeError(item)
        names.append(str(item))
    return names


def sources(args: YMap, tensors: Any, ahead: Any, path: str) -> list[Node]:
    """The nodes an entry's `from:` names, in order."""
    where = args.mark_of("from")
    try:
        names = names_of(args["from"])
    except TypeError as exc:
        raise SpecError(f"from: takes a name or a list of names of earlier outputs, got "
                        f"{exc.args[0]!r}", where, path) from None
    if not names:
        raise SpecError("from: names no output", where, path)
    marks = args["from"].item_marks if isinstance(args["from"], YList) else [where] * len(names)
    found: list[Node] = []
    for name, mark in zip(names, marks):
        if name.endswith(".*"):  # every part of a composite, in order (a repeat's items)
            whole = lookup(name[:-2], tensors, ahead, mark, path)
            found.extend(_named(whole))
        else:
            found.append(lookup(name, tensors, ahead, mark, path))
    return found


def lookup(name: str, tensors: Any, ahead: Any, mark: Mark, path: str,
           key: str = "from") -> Node:
    """The node `name` (dotted: into a composite) refers to, or a located error (saying
    `key:`, the option that named it)."""
    head, *rest = name.split(".")
    node = tensors.get(head)
    if node is None:
        if path.rpartition(".")[2] == head:
            raise SpecError(f"{key}: {name!r} is this entry itself; an entry reads outputs "
                            "made before it (no cycles)", mark, path)
        if head in ahead and _before(ahead[head], mark):  # earlier, but made nothing
            raise SpecError(f"{key}: {name!r} is left out (when: false, or an inline "
                            "composite with no layers), so there is no output to read",
                            mark, path)
        if head in ahead:
            raise SpecError(f"{key}: {name!r} is defined later (line {ahead[head].line}); an "
                            "entry reads outputs made before it (no cycles)", mark, path)
        known = ", ".join(sorted(tensors, key=str)) or "none"
        raise SpecError(f"{key}: no earlier output is named {name!r} here; the names this "
                        f"entry can read: {known}", mark, path)
    for part in rest:
        if node.exports and part not in node.exports:
            raise SpecError(f"{key}: {node.path} gives the outputs {', '.join(node.exports)} "
                            f"(its block's outputs:), not {part!r}", mark, path)
        inner = _child(node, part)
        if inner is None:
            kids = ", ".join(c.name for c in _named(node)) or "none"
            raise SpecError(f"{key}: {node.path or 'the network'} has no part {part!r} (its "
                            f"parts: {kids})", mark, path)
        node = inner
    if node.path == UNNAMED:
        raise SpecError(f"{key}: {name!r}: this block is called on a tensor no entry gives (the "
                        "sum or concatenation an after: list starts from, or a split branch's "
                        "share), so its input has no name to read; call it after a named "
                        "entry, or with from:", mark, path)
    return node


def _before(a: Mark, b: Mark) -> bool:
    return a.file == b.file and (a.line, a.col) < (b.line, b.col)


def parts_named(node: Node) -> list[Node]:
    """The named parts of a composite a reference can reach (an inline child's own)."""
    return _named(node)


def _named(node: Node) -> list[Node]:
    """The children a dotted name can reach: written ones, an inline child's own."""
    found: list[Node] = []
    for child in written(node):
        found.extend(_named(child) if child.inline else [child])
    return found


def _child(node: Node, name: str) -> Node | None:
    return next((c for c in _named(node) if c.name == name), None)


def declare_outputs(node: Node, block: str, names: tuple[str, ...], mark: Mark,
                    path: str) -> None:
    """A block call's `outputs:`: each must name a part of the body as resolved here."""
    parts = {c.name for c in _named(node)}
    for name in names:
        if name not in parts:
            raise SpecError(f"block {block!r} declares the output {name!r}, but its body has "
                            f"no part of that name here (its parts: {', '.join(sorted(parts))})",
                            mark, path)
    node.exports = names


def join(op: str, args: YMap, mark: Mark, tensors: Any, ahead: Any, name: str, path: str,
         frozen: bool) -> Join:
    """A join of the named outputs, its shape checked."""
    for key in args:
        if key not in ("from", "name", "when", "frozen") and (key, op) != ("axis", "concat"):
            raise SpecError(f"{op} of named outputs takes from: and name:"
                            f"{' (and axis:)' if op == 'concat' else ''}, not {key!r}",
                            args.key_marks[key], path)
    if "from" not in args:
        raise SpecError(f"{op} needs from: the names of the outputs it joins", mark, path)
    inputs = sources(args, tensors, ahead, path)
    if len(inputs) < 2:
        raise SpecError(f"{op} joins two or more outputs; from: names {len(inputs)}",
                        args.mark_of("from"), path)
    shapes = [n.output for n in inputs]
    node = Join(name=name, path=path, mark=mark, frozen=frozen, op=op, shapes=shapes,
                sources=tuple(n.path for n in inputs), input=shapes[0],
                axis=_axis(args, len(shapes[0]), path) if "axis" in args else 0)
    node.output = join_output(node, [n.name for n in inputs])
    return node


def _axis(args: YMap, rank: int, path: str) -> int:
    """concat's `axis:` as an index into the per-sample shape (negative: from the end)."""
    raw = args["axis"]
    if isinstance(raw, bool) or not isinstance(raw, int) or not -rank <= raw < rank:
        raise SpecError(f"concat: axis must be an integer from {-rank} to {rank - 1} (0 is "
                        f"the channels; -1 the last axis) for inputs of {rank} axes, got "
                        f"{raw!r}", args.mark_of("axis"), path)
    return raw % rank


def join_output(node: Join, names: list[str]) -> Shape:
    """add: equal shapes; multiply: equal, or a Cx1x1 factor on a CxHxW map (either side);
    concat: equal but for channels."""
    shapes = node.shapes
    first = shapes[0]
    for other_name, other in zip(names[1:], shapes[1:]):
        fits = {
            "add": other == first,
            "multiply": other == first or _broadcasts(first, other),
            "concat": len(other) == len(first) and _but(other, node.axis) == _but(first,
                                                                                 node.axis),
        }[node.op]
        if not fits:
            along = "channels" if node.axis == 0 else f"axis {node.axis}"
            rule = {"add": "inputs of add must have one shape",
                    "multiply": "inputs of multiply must have one shape, or one is Cx1x1",
                    "concat": f"inputs of concat must agree on everything but {along}"}
            raise SpecError(f"{node.op}: input {names[0]!r} is {shape_text(first)} but input "
                            f"{other_name!r} is {shape_text(other)}; {rule[node.op]}",
                            node.mark, node.path)
    if node.op == "concat":
        axis = node.axis
        return (*first[:axis], sum(s[axis] for s in shapes), *first[axis + 1:])
    if node.op == "multiply":  # the map, where a Cx1x1 factor is broadcast over it
        return next((s for s in shapes if s[1:] != (1, 1)), first)
    return first


def _but(shape: Shape, axis: int) -> Shape:
    """The shape without one axis."""
    return (*shape[:axis], *shape[axis + 1:])


def _broadcasts(a: Shape, b: Shape) -> bool:
    """One is a map CxHxW, the other the same C as Cx1x1."""
    return len(a) == len(b) == 3 and a[0] == b[0] and (a[1:] == (1, 1) or b[1:] == (1, 1))


def like_size(args: YMap, tensors: Any, ahead: Any, kind: str, path: str) -> tuple[int, int]:
    """The height and width of the feature map `like:` names (upsample to it, crop to it)."""
    where = args.mark_of("like")
    if "size" in args:
        raise SpecError(f"{kind}: give size or like, not both", where, path)
    raw = args["like"]
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise SpecError(f"like: takes the name of an earlier output, got {raw!r}", where, path)
    node = lookup(str(raw), tensors, ahead, where, path, key="like")
    if len(node.output) != 3:
        raise SpecError(f"like: {raw!r} is {shape_text(node.output)}, not a feature map "
                        "(CxHxW)", where, path)
    return node.output[1], node.output[2]


def network_outputs(raw: Any, mark: Mark, root: Node) -> dict[str, Node]:
    """`outputs: [p3, p4, p5]`: the named outputs of the network, in order."""
    try:
        names = names_of(raw)
    except TypeError as exc:
        raise SpecError(f"outputs: takes a list of names of the network's entries, got "
                        f"{exc.args[0]!r}", mark) from None
    if not names:
        raise SpecError("outputs: names no output", mark)
    tops = {c.name: c for c in _named(root)}
    found: dict[str, Node] = {}
    marks = raw.item_marks if isinstance(raw, YList) else [mark] * len(names)
    for name, where in zip(names, marks):
        if name in found:
            raise SpecError(f"outputs: {name!r} is listed twice", where)
        found[name] = lookup(name, tops, {}, where, "")
    return found
