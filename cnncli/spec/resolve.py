"""Resolve a spec's layer list into the IR: blocks, repeats, expressions, names and paths.

Scoping is lexical: a block body sees the spec's parameters and the block's own arguments
(plus any repeat variables around it), never the caller's. Argument values written as text
are expressions (see expr.py), evaluated where they are written.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from ..errors import Mark, SpecError, did_you_mean, yaml_repr
from ..layers import REGISTRY, ArgError
from .expr import ExprError, evaluate
from .ir import Concat, LayerNode, Node, Residual, Sequence
from .yamlsrc import YAML11_BOOLEANS, YList, YMap

MAX_NODES = 200_000
MAX_REPEAT = 100_000
MAX_BLOCK_DEPTH = 64
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

COMMON_KEYS = ("name", "when", "frozen")
COMPOSITES = {
    "sequence": ("layers",),
    "residual": ("layers", "shortcut", "after"),
    "concat": ("branches",),
    "repeat": ("count", "var", "body"),
}
BLOCK_BODIES = ("layers", "residual", "concat", "repeat")


@dataclass
class Block:
    """A named, reusable piece of network with parameters (`null` default = required)."""

    name: str
    params: YMap
    body_kind: str  # a COMPOSITES key
    body: Any
    body_mark: Mark
    mark: Mark


def parse_block(name: str, raw: Any, mark: Mark) -> Block:
    if not NAME_RE.fullmatch(name):
        raise SpecError(f"block name {name!r} must be a plain identifier", mark)
    if name in REGISTRY or name in COMPOSITES:
        raise SpecError(f"block name {name!r} is already a layer type; choose another", mark)
    if not isinstance(raw, YMap):
        raise SpecError(f"block {name!r} must be a mapping with params and one of "
                        f"{', '.join(BLOCK_BODIES)}", mark)
    allowed = ("params", "description", *BLOCK_BODIES)
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
    kind = bodies[0]
    body = raw[kind]
    if kind == "layers":
        kind, body = "sequence", _wrap({"layers": body}, raw.mark_of("layers"))
    return Block(name, params, kind, body, raw.mark_of(bodies[0]), mark)


def _wrap(values: dict[str, Any], mark: Mark) -> YMap:
    box = YMap(values)
    box.mark = mark
    box.key_marks = {k: mark for k in values}
    box.value_marks = {k: mark for k in values}
    return box


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def layer_types() -> list[str]:
    """One name per layer class: the registry's first spelling of each (conv, not conv2d)."""
    first: dict[type, str] = {}
    for name, cls in REGISTRY.items():
        first.setdefault(cls, name)
    return list(first.values())


class Resolver:
    """Walks the layer list once, producing IR nodes with paths and marks."""

    def __init__(self, blocks: dict[str, Block], params: dict[str, Any]):
        self.blocks = blocks
        self.globals = params
        self.nodes = 0
        self.calls: list[str] = []
        self.path: str | None = None  # the layer being resolved, for messages

    # -- entry points -----------------------------------------------------------------

    def network(self, layers: Any, mark: Mark) -> Sequence:
        root = Sequence(name="", path="", mark=mark, frozen=False)
        root.children = self.items(layers, mark, dict(self.globals), "", False, "layers")
        return root

    # -- values -----------------------------------------------------------------------

    def value(self, raw: Any, scope: dict[str, Any], mark: Mark, literal: tuple = ()) -> Any:
        """Evaluate text as an expression (except `literal` words); lists element-wise."""
        if isinstance(raw, str) and raw not in literal:
            if raw in YAML11_BOOLEANS and raw not in scope:
                raise SpecError(f"{raw!r} is not true or false in a spec (YAML 1.1 read it as a "
                                "boolean, cnncli does not): write true or false", mark,
                                self.path)
            try:
                return evaluate(raw, scope)
            except ExprError as exc:
                raise SpecError(f"in expression {raw!r}: {exc}", mark, self.path) from None
        if isinstance(raw, list):
            marks = raw.item_marks if isinstance(raw, YList) else [mark] * len(raw)
            return [self.value(item, scope, m, literal) for item, m in zip(raw, marks)]
        return raw

    def flag(self, args: YMap, key: str, scope: dict[str, Any], default: bool) -> bool:
        if key not in args:
            return default
        value = self.value(args[key], scope, args.mark_of(key))
        if not isinstance(value, bool):
            raise SpecError(f"{key} must be true or false (or an expression giving one), "
                            f"got {yaml_repr(value)}", args.mark_of(key), self.path)
        return value

    # -- lists and entries ------------------------------------------------------------

    def items(self, raw: Any, mark: Mark, scope: dict[str, Any], prefix: str, frozen: bool,
              what: str, first_index: int = 0) -> list[Node]:
        """Entries of a list; unnamed ones are named by their index among those kept."""
        if not isinstance(raw, YList):
            raise SpecError(f"{what} must be a list of layers (each line starting with '- ')",
                            mark)
        nodes: list[Node] = []
        seen: dict[str, Mark] = {}
        for item, item_mark in zip(raw, raw.item_marks):
            node = self.entry(item, item_mark, scope, prefix, str(first_index + len(nodes)),
                              frozen)
            if node is None:
                continue
            _claim(seen, node, prefix)
            nodes.append(node)
        return nodes

    def entry(self, raw: Any, mark: Mark, scope: dict[str, Any], prefix: str,
              default_name: str, frozen: bool) -> Node | None:
        outer = self.path
        try:
            return self._entry(raw, mark, scope, prefix, default_name, frozen)
        finally:
            self.path = outer

    def _entry(self, raw: Any, mark: Mark, scope: dict[str, Any], prefix: str,
               default_name: str, frozen: bool) -> Node | None:
        kind, args, kind_mark = _split_entry(raw, mark)
        name = _entry_name(args, default_name)
        path = self.path = _join(prefix, name)
        if "when" in args and not self.flag(args, "when", scope, True):
            return None
        frozen = self.flag(args, "frozen", scope, frozen)
        self.count(mark)
        if kind in COMPOSITES:
            return self.composite(kind, args, kind_mark, scope, name, path, frozen, kind)
        if kind in self.blocks:
            return self.call(self.blocks[kind], args, kind_mark, scope, name, path, frozen)
        if kind in REGISTRY:
            return self.layer(kind, args, kind_mark, scope, name, path, frozen)
        close = difflib.get_close_matches(kind, [*REGISTRY, *COMPOSITES, *self.blocks], n=6)
        one_each = {REGISTRY.get(c, c): c for c in reversed(close)}  # batchnorm, not bn too
        hint = did_you_mean(kind, one_each.values(), n=3) if close else ""
        blocks = f"; this spec's blocks: {', '.join(self.blocks)}" if self.blocks else ""
        raise SpecError(f"unknown layer type {kind!r}{hint}; the "
                        f"layer types are {', '.join(layer_types())}, and the composites "
                        f"{', '.join(COMPOSITES)}{blocks} (docs/spec-language.md)", kind_mark, path)

    def count(self, mark: Mark) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise SpecError(f"the network has more than {MAX_NODES:,} layers", mark, self.path)

    def layer(self, kind: str, args: YMap, mark: Mark, scope: dict[str, Any], name: str,
              path: str, frozen: bool) -> LayerNode:
        cls = REGISTRY[kind]
        declared = {arg.name: arg for arg in cls.args}
        values: dict[str, Any] = {}
        for key in args:
            if key in COMMON_KEYS:
                continue
            if key not in declared:
                options = ", ".join(declared) or "none"
                raise SpecError(f"{kind} has no option {key!r}{did_you_mean(key, declared)}; "
                                f"its options: {options}", args.key_marks[key], path)
        for arg in cls.args:
            if arg.name not in args:
                if arg.required:
                    raise SpecError(f"{kind} needs {arg.name!r} ({arg.doc or arg.kind})",
                                    mark, path)
                values[arg.name] = None if arg.default is None else arg.check(arg.default)
                continue
            where = args.mark_of(arg.name)
            if arg.kind == "bool" and isinstance(args[arg.name], str) \
                    and args[arg.name] in YAML11_BOOLEANS:
                raise SpecError(f"{kind}: {arg.name} must be true or false, got "
                                f"{args[arg.name]!r} (YAML 1.1 read it as a boolean, cnncli "
                                "does not: write true or false)", where, path)
            literal = ("same", "valid") if arg.kind == "padding" else ()
            raw_value = self.value(args[arg.name], scope, where, literal)
            try:
                values[arg.name] = None if raw_value is None and arg.default is None \
                    else arg.check(raw_value)
            except ArgError as exc:
                raise SpecError(f"{kind}: {exc}", where, path) from None
        layer = cls(**values)
        try:
            layer.validate()
        except ArgError as exc:
            raise SpecError(f"{kind}: {exc}", mark, path) from None
        return LayerNode(name=name, path=path, mark=mark, frozen=frozen, layer=layer)

    # -- blocks -----------------------------------------------------------------------

    def call(self, block: Block, args: YMap, mark: Mark, scope: dict[str, Any], name: str,
             path: str, frozen: bool) -> Node:
        if block.name in self.calls:
            chain = " -> ".join([*self.calls[self.calls.index(block.name):], block.name])
            raise SpecError(f"block {block.name!r} uses itself ({chain})", mark, path)
        if len(self.calls) >= MAX_BLOCK_DEPTH:
            raise SpecError(f"blocks nest deeper than {MAX_BLOCK_DEPTH} levels", mark, path)
        inner = dict(self.globals)
        for key in args:
            if key in COMMON_KEYS:
                continue
            if key not in block.params:
                params = ", ".join(block.params) or "none"
                raise SpecError(f"block {block.name!r} has no parameter {key!r}"
                                f"{did_you_mean(key, block.params)}; its parameters: {params}",
                                args.key_marks[key], path)
            inner[key] = self.value(args[key], scope, args.mark_of(key))
        for pname, default in block.params.items():
            if pname in inner and pname in args:
                continue
            if default is None:
                raise SpecError(f"block {block.name!r} needs argument {pname!r}", mark, path)
            inner[pname] = self.value(default, inner, block.params.mark_of(pname))
        self.calls.append(block.name)
        try:
            return self.composite(block.body_kind, block.body, block.body_mark, inner, name,
                                  path, frozen, block.name)
        finally:
            self.calls.pop()

    # -- composites -------------------------------------------------------------------

    def composite(self, kind: str, args: Any, mark: Mark, scope: dict[str, Any], name: str,
                  path: str, frozen: bool, label: str) -> Node:
        if not isinstance(args, YMap):
            raise SpecError(f"{kind} takes a mapping of {', '.join(COMPOSITES[kind])}", mark,
                            path)
        allowed = (*COMPOSITES[kind], *COMMON_KEYS)
        for key in args:
            if key not in allowed:
                raise SpecError(f"{kind} has no option {key!r}{did_you_mean(key, allowed)}; "
                                f"its options: {', '.join(COMPOSITES[kind])}",
                                args.key_marks[key], path)
        build = getattr(self, f"_{kind}")
        return build(args, mark, scope, name, path, frozen, label)

    def _sequence(self, args: YMap, mark: Mark, scope: dict[str, Any], name: str, path: str,
                  frozen: bool, label: str) -> Node:
        _require(args, "layers", "sequence", mark, path)
        children = self.items(args["layers"], args.mark_of("layers"), scope, path, frozen,
                              "layers")
        return Sequence(name=name, path=path, mark=mark, frozen=frozen, children=children,
                        label=label)

    def _residual(self, args: YMap, mark: Mark, scope: dict[str, Any], name: str, path: str,
                  frozen: bool, label: str) -> Node:
        _require(args, "layers", "residual", mark, path)
        body = self.items(args["layers"], args.mark_of("layers"), scope, path, frozen, "layers")
        shortcut: str | Sequence = "auto"
        if "shortcut" in args:
            raw, where = args["shortcut"], args.mark_of("shortcut")
            if raw in ("auto", "identity"):
                shortcut = raw
            elif isinstance(raw, YList):
                shortcut = Sequence(name="shortcut", path=_join(path, "shortcut"), mark=where,
                                    frozen=frozen, label="shortcut")
                shortcut.children = self.items(raw, where, scope, shortcut.path, frozen,
                                               "shortcut")
            else:
                raise SpecError("shortcut must be auto, identity or a list of layers, "
                                f"got {raw!r}", where, path)
        after: list[Node] = []
        if "after" in args:
            # one namespace with the body: unnamed layers' indices continue after the body's
            after = self.items(args["after"], args.mark_of("after"), scope, path, frozen,
                               "after", first_index=len(body))
        seen: dict[str, Mark] = {}
        for node in [*body, *after]:
            _claim(seen, node, path)
        if "shortcut" in seen:
            raise SpecError("the name 'shortcut' is taken by the residual's shortcut path",
                            seen["shortcut"], path)
        return Residual(name=name, path=path, mark=mark, frozen=frozen, body=body,
                        shortcut=shortcut, after=after, label=label)

    def _concat(self, args: YMap, mark: Mark, scope: dict[str, Any], name: str, path: str,
                frozen: bool, label: str) -> Node:
        _require(args, "branches", "concat", mark, path)
        raw, where = args["branches"], args.mark_of("branches")
        if isinstance(raw, YMap):
            named = [(key, raw[key], raw.mark_of(key)) for key in raw]
            for key in raw:
                if not NAME_RE.fullmatch(key):
                    raise SpecError(f"branch name {key!r} must be a plain identifier",
                                    raw.key_marks[key], path)
        elif isinstance(raw, YList):
            named = [(None, item, m) for item, m in zip(raw, raw.item_marks)]
        else:
            raise SpecError("branches must be a mapping of name: layers, or a list", where, path)
        branches: list[Node] = []
        seen: dict[str, Mark] = {}
        for given, item, bmark in named:
            bname = given if given is not None else str(len(branches))  # index among kept
            bpath = _join(path, bname)
            if isinstance(item, YList):
                branch = Sequence(name=bname, path=bpath, mark=bmark, frozen=frozen,
                                  label="branch")
                branch.children = self.items(item, bmark, scope, bpath, frozen, "a branch")
            else:
                node = self.entry(item, bmark, scope, path, bname, frozen)
                if node is None:
                    continue
                branch = node
            _claim(seen, branch, path)
            branches.append(branch)
        if not branches:
            raise SpecError("concat needs at least one branch", where, path)
        return Concat(name=name, path=path, mark=mark, frozen=frozen, branches=branches,
                      label=label)

    def _repeat(self, args: YMap, mark: Mark, scope: dict[str, Any], name: str, path: str,
                frozen: bool, label: str) -> Node:
        _require(args, "count", "repeat", mark, path)
        _require(args, "body", "repeat", mark, path)
        count = self.value(args["count"], scope, args.mark_of("count"))
        if isinstance(count, float) and count.is_integer():
            count = int(count)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise SpecError(f"repeat count must be a whole number >= 0, got {count!r}",
                            args.mark_of("count"), path)
        if count > MAX_REPEAT:
            raise SpecError(f"repeat count {count:,} is more than {MAX_REPEAT:,}",
                            args.mark_of("count"), path)
        var = args.get("var", "i")
        if not isinstance(var, str) or not NAME_RE.fullmatch(var):
            raise SpecError(f"repeat var must be a plain identifier, got {var!r}",
                            args.mark_of("var"), path)
        body, body_mark = args["body"], args.mark_of("body")
        children: list[Node] = []
        seen: dict[str, Mark] = {}
        for i in range(count):
            inner = {**scope, var: i}
            ipath = _join(path, str(len(children)))
            node: Node | None
            if isinstance(body, YList):
                node = Sequence(name=str(len(children)), path=ipath, mark=body_mark,
                                frozen=frozen, label="repeat item")
                node.children = self.items(body, body_mark, inner, ipath, frozen, "body")
            else:
                node = self.entry(body, body_mark, inner, path, str(len(children)), frozen)
            if node is not None:
                _claim(seen, node, path)
                children.append(node)
        return Sequence(name=name, path=path, mark=mark, frozen=frozen, children=children,
                        label=label)


def _require(args: YMap, key: str, kind: str, mark: Mark, path: str) -> None:
    if key not in args:
        raise SpecError(f"{kind} needs {key!r}", mark, path)


def _claim(seen: dict[str, Mark], node: Node, prefix: str) -> None:
    if node.name in seen:
        where = f" in {prefix}" if prefix else ""
        raise SpecError(f"name {node.name!r} is used twice{where} (first at line "
                        f"{seen[node.name].line})", node.mark, node.path)
    seen[node.name] = node.mark


def _split_entry(raw: Any, mark: Mark) -> tuple[str, YMap, Mark]:
    """An entry is `relu` or `{conv: {out: 64, kernel: 3}}`: its type and its arguments."""
    if isinstance(raw, str):
        return raw, _wrap({}, mark), mark
    if isinstance(raw, YMap) and len(raw) == 1:
        (kind, args), = raw.items()
        kind_mark = raw.key_marks[kind]
        if args is None:
            return kind, _wrap({}, kind_mark), kind_mark
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


def _entry_name(args: YMap, default: str) -> str:
    if "name" not in args:
        return default
    name = args["name"]
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise SpecError(f"name must be a plain identifier (letters, digits, _), got {name!r}",
                        args.mark_of("name"))
    return name
