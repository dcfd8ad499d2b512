"""Resolve a spec's layer list into the IR: blocks, repeats, expressions, names and paths.

Scoping is lexical: a block body sees the spec's parameters and the block's own arguments
(plus any repeat variables around it), never the caller's, and the shape of its input as
`in_channels`, `in_height`, `in_width` (`in_features` for a flat vector). Argument values
written as text are expressions (see expr.py), evaluated where they are written. The
resolver follows the shape through every layer so that those names are known.
"""

from __future__ import annotations

import difflib
from typing import Any

from ..errors import Mark, SpecError, did_you_mean, yaml_repr
from ..layers import REGISTRY, ArgError, Shape
from .blocks import (
    COMMON_KEYS,
    COMPOSITES,
    NAME_RE,
    SHAPE_NAMES,
    Block,
    entry_name,
    split_entry,
)
from .expr import ExprError, evaluate
from .ir import (
    Concat,
    Gate,
    LayerNode,
    Node,
    Residual,
    Sequence,
    check_gate,
    children,
    concat_output,
    split_input,
)
from .yamlsrc import YAML11_BOOLEANS, YList, YMap

MAX_NODES = 200_000
MAX_REPEAT = 100_000
MAX_BLOCK_DEPTH = 64
SHORTCUTS = ("auto", "identity", "none")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def shape_names(shape: Shape) -> dict[str, int]:
    """A block's input shape as names its expressions can use."""
    if len(shape) == 3:
        return dict(zip(SHAPE_NAMES, shape))
    return {"in_features": shape[0]}


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
        self.shape: Shape = ()  # the shape flowing into the entry being resolved
        # Where the unnamed children of the inline composite being entered start counting:
        # they are numbered on from their parent's list, as if written there.
        self.start = 0
        self.inline_repeat = False  # the repeat being entered is inline: so are its items

    # -- entry points -----------------------------------------------------------------

    def network(self, layers: Any, mark: Mark, shape: Shape) -> Sequence:
        """The root sequence for an input of `shape` (per sample)."""
        self.shape = tuple(shape)
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
        index = first_index
        for item, item_mark in zip(raw, raw.item_marks):
            self.start = index
            node = self.entry(item, item_mark, scope, prefix, str(index), frozen)
            if node is None:
                continue
            _claim_all(seen, node, prefix)
            nodes.append(node)
            index += slots(node)
        return nodes

    def first(self) -> int:
        """The first index of an inline composite's unnamed children (0 when not inline)."""
        start, self.start = self.start, 0
        return start

    def entry(self, raw: Any, mark: Mark, scope: dict[str, Any], prefix: str,
              default_name: str, frozen: bool) -> Node | None:
        outer = self.path
        try:
            return self._entry(raw, mark, scope, prefix, default_name, frozen)
        finally:
            self.path = outer

    def _entry(self, raw: Any, mark: Mark, scope: dict[str, Any], prefix: str,
               default_name: str, frozen: bool) -> Node | None:
        kind, args, kind_mark = split_entry(raw, mark)
        name = entry_name(args, default_name)
        path = self.path = _join(prefix, name)
        if "when" in args and not self.flag(args, "when", scope, True):
            return None
        frozen = self.flag(args, "frozen", scope, frozen)
        inline = self.flag(args, "inline", scope, False)
        self.count(mark)
        if kind in REGISTRY and kind not in self.blocks:
            if "inline" in args:
                raise SpecError("inline applies to composites and blocks, not to a layer",
                                args.key_marks["inline"], path)
            node: Node = self.layer(kind, args, kind_mark, scope, name, path, frozen)
            self.shape = node.cost(self.shape).output
            return node
        # An inline composite's children are named in the parent's namespace.
        inner = prefix if inline else path
        start = self.start
        self.start = start if inline else 0
        self.inline_repeat = inline and "repeat" in (
            kind, self.blocks[kind].body_kind if kind in self.blocks else None)
        if kind in COMPOSITES:
            node = self.composite(kind, args, kind_mark, scope, name, inner, frozen, kind)
        elif kind in self.blocks:
            node = self.call(self.blocks[kind], args, kind_mark, scope, name, inner, frozen)
        else:
            node = None
        if node is not None and inline and slots(node, inline=True) == 0:
            return None  # an empty inline composite adds no layer, so no row and no name
        if node is not None:
            if inline and "name" not in args:  # the indices its children fill, e.g. 3-5
                name = f"{start}-{start + slots(node, inline=True) - 1}"
                path = _join(prefix, name)
            node.name, node.path, node.inline = name, path, inline
            return node
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
        options: dict[str, Any] = {}
        for key in args:  # values as written, evaluated; create checks them (and the keys)
            if key in COMMON_KEYS:
                continue
            arg = declared.get(key)
            if arg is None:
                options[key] = args[key]  # not an option: create names it
                continue
            where = args.mark_of(key)
            if arg.kind == "bool" and isinstance(args[key], str) and args[key] in YAML11_BOOLEANS:
                raise SpecError(f"{kind}: {key} must be true or false, got {args[key]!r} (YAML "
                                "1.1 read it as a boolean, cnncli does not: write true or "
                                "false)", where, path)
            literal = ("same", "valid") if arg.kind == "padding" else ()
            options[key] = self.value(args[key], scope, where, literal)
        try:
            layer = cls.create(**options)
        except ArgError as exc:
            where = mark  # a required option left out, or a rule tying several together
            if exc.arg in declared:
                where = args.mark_of(exc.arg)
            elif exc.arg is not None:  # a key that is no option
                where = args.key_marks[exc.arg]
            raise SpecError(exc.said_of(kind), where, path) from None
        return LayerNode(name=name, path=path, mark=mark, frozen=frozen, layer=layer)

    # -- blocks -----------------------------------------------------------------------

    def call(self, block: Block, args: YMap, mark: Mark, scope: dict[str, Any], name: str,
             path: str, frozen: bool) -> Node:
        if block.name in self.calls:
            chain = " -> ".join([*self.calls[self.calls.index(block.name):], block.name])
            raise SpecError(f"block {block.name!r} uses itself ({chain})", mark, path)
        if len(self.calls) >= MAX_BLOCK_DEPTH:
            raise SpecError(f"blocks nest deeper than {MAX_BLOCK_DEPTH} levels", mark, path)
        inner = {**self.globals, **shape_names(self.shape)}
        for key in args:
            if key in COMMON_KEYS:
                continue
            if key in SHAPE_NAMES:
                raise SpecError(f"{key} is the shape of the block's input, not an argument",
                                args.key_marks[key], path)
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
                              "layers", self.first())
        return Sequence(name=name, path=path, mark=mark, frozen=frozen, children=children,
                        label=label)

    def _residual(self, args: YMap, mark: Mark, scope: dict[str, Any], name: str, path: str,
                  frozen: bool, label: str) -> Node:
        _require(args, "layers", "residual", mark, path)
        given, first = self.shape, self.first()
        body = self.items(args["layers"], args.mark_of("layers"), scope, path, frozen, "layers",
                          first)
        body_out = self.shape
        shortcut_name = args.get("shortcut_name", "shortcut")
        if not isinstance(shortcut_name, str) or not NAME_RE.fullmatch(shortcut_name):
            raise SpecError(f"shortcut_name must be a plain identifier, got {shortcut_name!r}",
                            args.mark_of("shortcut_name"), path)
        shortcut = self.shortcut(args, scope, path, shortcut_name, frozen, given)
        self.shape = body_out
        after: list[Node] = []
        if "after" in args:
            # one namespace with the body: unnamed layers' indices continue after the body's
            after = self.items(args["after"], args.mark_of("after"), scope, path, frozen,
                               "after", first + sum(slots(n) for n in body))
        seen: dict[str, Mark] = {}
        for node in [*body, *after]:
            _claim_all(seen, node, path)
        if shortcut == "none":  # no residual this time: the layers in a row
            return Sequence(name=name, path=path, mark=mark, frozen=frozen,
                            children=[*body, *after], label=label)
        if shortcut_name in seen:
            raise SpecError(f"the name {shortcut_name!r} is taken by the residual's shortcut "
                            "path", seen[shortcut_name], path)
        return Residual(name=name, path=path, mark=mark, frozen=frozen, body=body,
                        shortcut=shortcut, after=after, label=label,
                        shortcut_name=shortcut_name)

    def shortcut(self, args: YMap, scope: dict[str, Any], path: str, name: str, frozen: bool,
                 given: Shape) -> str | Sequence:
        """auto, identity, none (no add), a list of layers (named under the shortcut's own
        path, `path.name`), or an expression giving a word."""
        if "shortcut" not in args:
            return "auto"
        raw, where = args["shortcut"], args.mark_of("shortcut")
        if isinstance(raw, YList):
            self.shape = given
            own = _join(path, name)
            shortcut = Sequence(name=name, path=own, mark=where, frozen=frozen,
                                label="shortcut")
            shortcut.children = self.items(raw, where, scope, own, frozen, "shortcut")
            return shortcut
        bare_word = isinstance(raw, str) and NAME_RE.fullmatch(raw) and raw not in scope
        value = self.value(raw, scope, where, literal=SHORTCUTS) \
            if isinstance(raw, str) and not bare_word else raw
        if value not in SHORTCUTS:
            raise SpecError("shortcut must be auto, identity, none, a list of layers, or an "
                            f"expression giving one of those words, got {yaml_repr(value)}",
                            where, path)
        return value

    def _gate(self, args: YMap, mark: Mark, scope: dict[str, Any], name: str, path: str,
              frozen: bool, label: str) -> Node:
        _require(args, "layers", "gate", mark, path)
        given = self.shape
        layers = self.items(args["layers"], args.mark_of("layers"), scope, path, frozen,
                            "layers", self.first())
        node = Gate(name=name, path=path, mark=mark, frozen=frozen, layers=layers, label=label)
        check_gate(node, given, self.shape)
        self.shape = given
        return node

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
        node = Concat(name=name, path=path, mark=mark, frozen=frozen, label=label,
                      split=self.flag(args, "split", scope, False))
        given, index = self.shape, self.first()
        # Every branch starts from the concat's input, or with split from its equal share
        # (a split branch cannot be dropped with when:, checked below).
        shapes: list[tuple[str, Shape]] = []
        seen: dict[str, Mark] = {}
        share = split_input(given, len(named), mark, path) if node.split else given
        for given_name, item, bmark in named:
            bname = given_name if given_name is not None else str(index)
            bpath = _join(path, bname)
            self.shape, self.start = share, index
            if isinstance(item, YList):
                branch: Node | None = Sequence(name=bname, path=bpath, mark=bmark,
                                               frozen=frozen, label="branch")
                branch.children = self.items(item, bmark, scope, bpath, frozen, "a branch")
            else:
                branch = self.entry(item, bmark, scope, path, bname, frozen)
                if branch is None:
                    continue
            _claim_all(seen, branch, path)
            node.branches.append(branch)
            index += slots(branch)
            shapes.append((branch.name, self.shape))
        if not node.branches:
            raise SpecError("concat needs at least one branch", where, path)
        if node.split and len(node.branches) != len(named):
            raise SpecError("a split concat cannot drop branches with when: each branch takes "
                            "its share of the channels", where, path)
        self.shape = concat_output(node, shapes)
        if "after" in args:
            node.after = self.items(args["after"], args.mark_of("after"), scope, path, frozen,
                                    "after", index)
            for child in node.after:
                _claim_all(seen, child, path)
        return node

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
        inline, index = self.inline_repeat, self.first()
        prefix, start = self.item_names(args, scope, path)
        children: list[Node] = []
        seen: dict[str, Mark] = {}
        for i in range(count):
            inner = {**scope, var: i}
            node: Node | None
            # kept items are counted: a `when` that drops one leaves no gap in the names
            given = f"{prefix}{start + len(children)}" if prefix or start else str(index)
            if isinstance(body, YList):
                # An inline repeat's items are inline too: their layers join the parent's list.
                iname = f"{index}-" if inline else given
                node = Sequence(name=iname, path=_join(path, iname), mark=body_mark,
                                frozen=frozen, label="repeat item", inline=inline)
                node.children = self.items(body, body_mark, inner, path if inline else
                                           node.path, frozen, "body", index if inline else 0)
                if inline and not node.children:
                    continue  # every layer of this item was left out by `when`
                if inline:
                    node.name = f"{index}-{index + slots(node) - 1}"
                    node.path = _join(path, node.name)
            else:
                self.start = index
                node = self.entry(body, body_mark, inner, path, given, frozen)
            if node is not None:
                _claim_all(seen, node, path)
                children.append(node)
                index += slots(node)
        return Sequence(name=name, path=path, mark=mark, frozen=frozen, children=children,
                        label=label)


    def item_names(self, args: YMap, scope: dict[str, Any], path: str) -> tuple[str, int]:
        """`prefix` and `start` of a repeat's item names: denselayer1, denselayer2, ..."""
        prefix = args.get("prefix", "")
        if prefix and (not isinstance(prefix, str) or not NAME_RE.fullmatch(prefix)):
            raise SpecError(f"repeat prefix must be a plain identifier, got {prefix!r}",
                            args.mark_of("prefix"), path)
        start = self.value(args.get("start", 0), scope, args.mark_of("start")) \
            if "start" in args else 0
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise SpecError(f"repeat start must be a whole number >= 0, got {start!r}",
                            args.mark_of("start"), path)
        return prefix, start


def _require(args: YMap, key: str, kind: str, mark: Mark, path: str) -> None:
    if key not in args:
        raise SpecError(f"{kind} needs {key!r}", mark, path)


def _claim_all(seen: dict[str, Mark], node: Node, prefix: str) -> None:
    """Claim a node's name, or for an inline one the names its children take here."""
    if not node.inline:
        _claim(seen, node, prefix)
        return
    for child in children(node):
        _claim_all(seen, child, prefix)


def slots(node: Node, inline: bool | None = None) -> int:
    """How many names a node takes in its parent's list: 1, or an inline node's children's."""
    if not (node.inline if inline is None else inline):
        return 1
    return sum(slots(child) for child in children(node))


def _claim(seen: dict[str, Mark], node: Node, prefix: str) -> None:
    if node.name in seen:
        where = f" in {prefix}" if prefix else ""
        raise SpecError(f"name {node.name!r} is used twice{where} (first at line "
                        f"{seen[node.name].line})", node.mark, node.path)
    seen[node.name] = node.mark
