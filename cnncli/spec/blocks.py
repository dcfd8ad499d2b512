"""A spec's `blocks:`: reusable pieces of network with parameters, and the composite keys."""

from __future__ import annotations

import re
from typing import Any

from ..errors import Mark, SpecError, did_you_mean
from ..layers import REGISTRY
from ..records import Record
from .yamlsrc import YMap

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: what names a module (an entry, a branch, a shortcut, a repeat's prefix): an identifier
#: that may also hold '-' (torchvision's RegNet has `block1-0`); never '.', which splits
#: paths, nor a leading digit or '-', so it never clashes with index names (`3`, `3-5`)
LAYER_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
LAYER_NAME_RULE = "letters, digits, _ and -, starting with a letter or _"

COMMON_KEYS = ("name", "when", "frozen", "inline", "from")
COMPOSITES = {
    "sequence": ("layers",),
    "residual": ("layers", "shortcut", "shortcut_name", "after"),
    "concat": ("branches", "split", "after"),
    "gate": ("layers",),
    "repeat": ("count", "var", "body", "prefix", "start"),
}
BLOCK_BODIES = ("layers", "residual", "concat", "gate", "repeat")
#: a block's input shape, as names its expressions see (not parameters)
SHAPE_NAMES = ("in_channels", "in_height", "in_width", "in_features")


class Block(Record):
    """A named, reusable piece of network with parameters (`null` default = required)."""

    name: str
    params: YMap
    body_kind: str  # a COMPOSITES key
    body: Any
    body_mark: Mark
    mark: Mark
    #: names of its tensor inputs (`inputs: [x, skip]`), the first the output flowing in;
    #: empty: the one input, read as `input`
    inputs: tuple[str, ...]
    #: names of parts of its body that callers read as `CALL.NAME` (`outputs: [p3, p4]`);
    #: empty: any part may be read
    outputs: tuple[str, ...]

    def __init__(self, name: str, params: YMap, body_kind: str, body: Any, body_mark: Mark,
                 mark: Mark, inputs: tuple[str, ...] = (),
                 outputs: tuple[str, ...] = ()) -> None:
        self.name, self.params, self.body_kind, self.body = name, params, body_kind, body
        self.body_mark, self.mark, self.inputs, self.outputs = body_mark, mark, inputs, outputs


def parse_block(name: str, raw: Any, mark: Mark) -> Block:
    if not NAME_RE.fullmatch(name):
        raise SpecError(f"block name {name!r} must be a plain identifier", mark)
    if name in REGISTRY or name in COMPOSITES:
        raise SpecError(f"block name {name!r} is already a layer type; choose another", mark)
    if not isinstance(raw, YMap):
        raise SpecError(f"block {name!r} must be a mapping with params and one of "
                        f"{', '.join(BLOCK_BODIES)}", mark)
    allowed = ("params", "description", "inputs", "outputs", *BLOCK_BODIES)
    for key in raw:
        if key not in allowed:
            raise SpecError(f"unknown key {key!r} in block {name!r}{did_you_mean(key, allowed)}"
                            f"; a block has: {', '.join(allowed)}", raw.key_marks[key])
    bodies = [key for key in BLOCK_BODIES if key in raw]
    if len(bodies) != 1:
        raise SpecError(f"block {name!r} needs exactly one body ({', '.join(BLOCK_BODIES)}), "
                        f"found {len(bodies)}", raw.mark)
    params = raw.get("params")
    if params is None:
        params = YMap()
        params.mark, params.key_marks, params.value_marks = raw.mark, {}, {}
    if not isinstance(params, YMap):
        raise SpecError(f"params of block {name!r} must be a mapping of name: default",
                        raw.mark_of("params"))
    for pname in params:
        if not NAME_RE.fullmatch(pname) or pname.startswith("_"):
            raise SpecError(f"parameter name {pname!r} must be a plain identifier not starting "
                            "with _", params.key_marks[pname])
        if pname in COMMON_KEYS:
            raise SpecError(f"block parameter {pname!r} clashes with the {pname!r} key every "
                            "entry takes; choose another name", params.key_marks[pname])
        if pname in SHAPE_NAMES:
            raise SpecError(f"block parameter {pname!r} clashes with the name a block's input "
                            "shape has in its expressions; choose another name",
                            params.key_marks[pname])
    kind = bodies[0]
    body = raw[kind]
    if kind == "layers":
        kind, body = "sequence", wrap({"layers": body}, raw.mark_of("layers"))
    return Block(name, params, kind, body, raw.mark_of(bodies[0]), mark,
                 _inputs(raw, name, params), _names(raw, "outputs", name))


def _names(raw: YMap, key: str, name: str) -> tuple[str, ...]:
    """A block's `outputs:`: a list of plain names, none twice."""
    if key not in raw:
        return ()
    names = raw[key]
    if not isinstance(names, list) or not names or not all(
            isinstance(n, (str, int)) and not isinstance(n, bool) for n in names) \
            or len({str(n) for n in names}) != len(names):
        raise SpecError(f"{key} of block {name!r} must be a list of names of parts of its "
                        "body, none twice, e.g. [p3, p4]", raw.mark_of(key))
    return tuple(str(n) for n in names)


def _inputs(raw: YMap, name: str, params: YMap) -> tuple[str, ...]:
    """A block's `inputs:` names: plain identifiers, none twice, none a parameter's."""
    if "inputs" not in raw:
        return ()
    names = raw["inputs"]
    where = raw.mark_of("inputs")
    if not isinstance(names, list) or not names or not all(
            isinstance(n, str) and NAME_RE.fullmatch(n) for n in names):
        raise SpecError(f"inputs of block {name!r} must be a list of names, e.g. [x, skip]",
                        where)
    for n in names:
        if names.count(n) > 1 or n in params or n == "input":
            raise SpecError(f"input name {n!r} of block {name!r} is used twice (inputs, "
                            "params or the name input)", where)
    return tuple(names)


def wrap(values: dict[str, Any], mark: Mark) -> YMap:
    """A mapping made in code, located at `mark`."""
    box = YMap(values)
    box.mark = mark
    box.key_marks = {k: mark for k in values}
    box.value_marks = {k: mark for k in values}
    return box


def split_entry(raw: Any, mark: Mark) -> tuple[str, YMap, Mark]:
    """An entry is `relu` or `{conv: {out: 64, kernel: 3}}`: its type and its arguments."""
    if isinstance(raw, str):
        return raw, wrap({}, mark), mark
    if isinstance(raw, YMap) and len(raw) == 1:
        (kind, args), = raw.items()
        kind_mark = raw.key_marks[kind]
        if args is None:
            return kind, wrap({}, kind_mark), kind_mark
        if not isinstance(args, YMap):
            raise SpecError(f"the options of {kind!r} must be a mapping, e.g. "
                            f"{{{kind}: {{name: value}}}}; got {args!r}", raw.mark_of(kind))
        return kind, args, kind_mark
    if isinstance(raw, YMap):
        keys = ", ".join(raw) or "none"
        hint = "; put its options under the type" if raw else ""
        raise SpecError(f"a layer entry is a mapping with one key, its type "
                        f"(e.g. '- conv: {{out: 64, kernel: 3}}'); got keys {keys}{hint}", mark)
    raise SpecError(f"a layer entry is a type name or a mapping like "
                    f"'- conv: {{out: 64, kernel: 3}}', got {raw!r}", mark)


def entry_name(args: YMap, default: str) -> str:
    if "name" not in args:
        return default
    name = args["name"]
    if isinstance(name, int) and not isinstance(name, bool) and 0 <= name < 10**6:
        return str(name)  # as torchvision numbers a Sequential's modules
    if not isinstance(name, str) or not LAYER_NAME_RE.fullmatch(name):
        raise SpecError(f"name must be a plain name ({LAYER_NAME_RULE}) or a whole number, "
                        f"got {name!r}", args.mark_of("name"))
    return name
