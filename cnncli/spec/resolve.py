"""Resolve a spec's layer list into the IR: blocks, repeats, expressions, names and paths.

Scoping is lexical: a block body sees the spec's parameters and the block's own arguments
(plus any repeat variables around it), never the caller's, and the shape of its input as
`in_channels`, `in_height`, `in_width` (`in_features` for a flat vector). Argument values
written as text are expressions (see expr.py), evaluated where they are written. The
resolver follows the shape through every layer so that those names are known, and records
on each node the shape it takes and gives and each layer's cost (ir.py).

Each method gets what it needs as arguments, with where it is as a `Context` (context.py),
and returns the node and its output shape; the composites are in composites.py.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from typing import Any

from ..errors import Mark, SpecError, did_you_mean
from ..layers import REGISTRY, ArgError, Shape
from . import graph, sharing
from .blocks import COMMON_KEYS, COMPOSITES, SHAPE_NAMES, Block, entry_name, split_entry
from .composites import BUILDERS, settle_shortcuts
from .context import Budget, Context, claim_all, flag, join, shape_names, slots, value
from .ir import JOINS, LayerNode, Node, Sequence
from .yamlsrc import YAML11_BOOLEANS, YList, YMap

MAX_BLOCK_DEPTH = 64


def layer_types() -> list[str]:
    """One name per layer class, the registry's first spelling of each (conv, not conv2d),
    alphabetically."""
    first: dict[type, str] = {}
    for name, cls in REGISTRY.items():
        first.setdefault(cls, name)
    return sorted(first.values())  # alphabetical: the order a reader scans a list in


class Resolver:
    """Walks the layer list once, producing IR nodes with paths, marks, shapes and costs.

    Holds only what does not change during the walk (the blocks, the spec's parameters)
    and the node budget."""

    def __init__(self, blocks: dict[str, Block], params: dict[str, Any]):
        self.blocks = blocks
        self.globals = params
        self.budget = Budget()

    # -- entry points -----------------------------------------------------------------

    def network(self, layers: Any, mark: Mark, shape: Shape) -> Sequence:
        """The root sequence for an input of `shape` (per sample)."""
        shape = tuple(shape)
        ctx = Context(scope=dict(self.globals), prefix="", frozen=False, shape=shape,
                      tensors={"input": graph.input_node(shape)})
        children, out = self.items(layers, mark, ctx, "layers")
        root = Sequence(name="", path="", mark=mark, frozen=False, children=children,
                        input=shape, output=out)
        settle_shortcuts(root)
        return root

    def value(self, raw: Any, scope: dict[str, Any], mark: Mark, literal: tuple = ()) -> Any:
        """A value of the spec outside any layer (its input shape): see context.value."""
        return value(raw, scope, mark, literal)

    # -- lists and entries ------------------------------------------------------------

    def items(self, raw: Any, mark: Mark, ctx: Context, what: str,
              first_index: int = 0) -> tuple[list[Node], Shape]:
        """Entries of a list in `ctx.prefix`, the shape flowing from one to the next;
        unnamed ones are named by their index among those kept."""
        if not isinstance(raw, YList):
            raise SpecError(f"{what} must be a list of layers (each line starting with '- ')",
                            mark)
        nodes: list[Node] = []
        seen: dict[str, Mark] = {}
        index, shape, last = first_index, ctx.shape, ctx.last
        # this list's names (`from:`) in front of the enclosing lists'
        tensors: ChainMap[str, Node] = ChainMap({}, ctx.tensors)  # a view, not a copy
        ahead = _given_names(raw)
        for item, item_mark in zip(raw, raw.item_marks):
            here = ctx.replace(shape=shape, start=index, last=last, tensors=tensors,
                               ahead=ahead)
            node, shape = self.entry(item, item_mark, here, str(index))
            if node is None:
                continue
            claim_all(seen, node, ctx.prefix)
            nodes.append(node)
            index += slots(node)
            last = node.path
            for named in [node, *graph.parts_named(node)] if node.inline else [node]:
                tensors.maps[0][named.name] = named
        return nodes, shape

    def entry(self, raw: Any, mark: Mark, ctx: Context,
              default_name: str) -> tuple[Node | None, Shape]:
        """One entry (a layer, composite or block call) named `default_name` unless it
        names itself; None where `when` leaves it out or it is an empty inline one."""
        kind, args, kind_mark = split_entry(raw, mark)
        name = entry_name(args, default_name)
        path = join(ctx.prefix, name)
        if "when" in args and not flag(args, "when", ctx.scope, True, path):
            return None, ctx.shape
        frozen = flag(args, "frozen", ctx.scope, ctx.frozen, path)
        inline = flag(args, "inline", ctx.scope, False, path)
        self.budget.take(mark, path)
        before = ctx.shape
        if kind in JOINS and kind not in self.blocks and "branches" not in args:
            joined = graph.join(kind, args, kind_mark, ctx.tensors, ctx.ahead, name, path,
                                frozen)
            return joined, joined.output
        reads = graph.sources(args, ctx.tensors, ctx.ahead, path) if "from" in args else []
        if len(reads) > 1 and kind not in self.blocks:
            raise SpecError(f"from: {kind} reads one output, not {len(reads)}; join several "
                            "first with concat, add or multiply", args.mark_of("from"), path)
        if reads:
            ctx = ctx.replace(shape=reads[0].output, last=reads[0].path)
        built, out = self.resolved(kind, args, kind_mark, ctx, name, path, frozen, inline,
                                   reads)
        if built is None:
            return None, before
        if reads:  # the first is its input; a block's others are read inside it
            built.sources = tuple(r.path for r in reads)
        return built, out

    def resolved(self, kind: str, args: YMap, kind_mark: Mark, ctx: Context, name: str,
                 path: str, frozen: bool, inline: bool,
                 reads: list[Node]) -> tuple[Node | None, Shape]:
        """A layer, composite or block call, its input `ctx.shape`."""
        if kind in REGISTRY and kind not in self.blocks:
            if "inline" in args:
                raise SpecError("inline applies to composites and blocks, not to a layer",
                                args.key_marks["inline"], path)
            node = self.layer(kind, args, kind_mark, ctx, name, path, frozen)
            return node, node.apply(ctx.shape)
        if kind not in COMPOSITES and kind not in self.blocks:
            raise self.unknown(kind, kind_mark, path)
        # An inline composite's children are named in the parent's namespace, numbered on
        # from its parent's list as if written there.
        inner = ctx.replace(prefix=ctx.prefix if inline else path, frozen=frozen,
                            start=ctx.start if inline else 0, inline=inline, path=path)
        if kind in COMPOSITES:
            built, out = self.composite(kind, args, kind_mark, inner, name, kind)
        else:
            built, out = self.call(self.blocks[kind], args, kind_mark, inner, name, reads)
        if inline and slots(built, inline=True) == 0:
            return None, ctx.shape  # an empty inline composite adds no layer: no row, no name
        if inline and "name" not in args:  # the indices its children fill, e.g. 3-5
            name = f"{ctx.start}-{ctx.start + slots(built, inline=True) - 1}"
            path = join(ctx.prefix, name)
        built.name, built.path, built.inline = name, path, inline
        return built, out

    def unknown(self, kind: str, mark: Mark, path: str) -> SpecError:
        """The error for an entry that is no layer type, composite or block."""
        import difflib  # here: only this error needs it
        close = difflib.get_close_matches(kind, [*REGISTRY, *COMPOSITES, *self.blocks], n=6)
        one_each = {REGISTRY.get(c, c): c for c in reversed(close)}  # batchnorm, not bn too
        hint = did_you_mean(kind, one_each.values(), n=3) if close else ""
        blocks = f"; this spec's blocks: {', '.join(self.blocks)}" if self.blocks else ""
        return SpecError(f"unknown layer type {kind!r}{hint}; the "
                         f"layer types are {', '.join(layer_types())}, the composites "
                         f"{', '.join(COMPOSITES)}, and the joins add and multiply{blocks} "
                         "(docs/spec-language.md)", mark, path)

    def layer(self, kind: str, args: YMap, mark: Mark, ctx: Context, name: str,
              path: str, frozen: bool) -> LayerNode:
        cls = REGISTRY[kind]
        declared = cls.arg_named
        options: dict[str, Any] = {}
        scope = ctx.scope
        sized = "size" in declared and declared["size"].kind == "pair"  # a map's H and W
        if "like" in args and sized:  # the size of another feature map
            options["size"] = graph.like_size(args, ctx.tensors, ctx.ahead, kind, path)
        for key in args:  # values as written, evaluated; create checks them (and the keys)
            if key in COMMON_KEYS or key == "shares" or (key == "like" and sized):
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
            if arg.kind == "text":  # a word written as it is (an onnx_op's operator)
                options[key] = args[key]
                continue
            options[key] = value(args[key], scope, where, arg.words, path)
        try:
            layer = cls.create(**options)
        except ArgError as exc:
            where = mark  # a required option left out, or a rule tying several together
            if exc.arg in declared:
                where = args.mark_of(exc.arg)
            elif exc.arg is not None:  # a key that is no option
                where = args.key_marks[exc.arg]
            raise SpecError(exc.said_of(kind), where, path) from None
        owner = sharing.owner_of(args, layer, ctx.shape, ctx.tensors, ctx.ahead, path) \
            if "shares" in args else None
        return LayerNode(name=name, path=path, mark=mark, frozen=frozen, layer=layer,
                         owner=owner)

    # -- blocks -----------------------------------------------------------------------

    def call(self, block: Block, args: YMap, mark: Mark, ctx: Context, name: str,
             reads: list[Node]) -> tuple[Node, Shape]:
        """A block's body resolved with its arguments and tensor inputs (`reads`, from the
        call's `from:`; none: the output flowing in), errors located at `ctx.prefix`."""
        path, calls = ctx.prefix, ctx.calls
        if block.name in calls:
            chain = " -> ".join([*calls[calls.index(block.name):], block.name])
            raise SpecError(f"block {block.name!r} uses itself ({chain})", mark, path)
        if len(calls) >= MAX_BLOCK_DEPTH:
            raise SpecError(f"blocks nest deeper than {MAX_BLOCK_DEPTH} levels", mark, path)
        inner = {**self.globals, **shape_names(ctx.shape)}
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
            inner[key] = value(args[key], ctx.scope, args.mark_of(key), path=ctx.path)
        for pname, default in block.params.items():
            if pname in inner and pname in args:
                continue
            if default is None:
                raise SpecError(f"block {block.name!r} needs argument {pname!r}", mark, path)
            inner[pname] = value(default, inner, block.params.mark_of(pname), path=ctx.path)
        body = ctx.replace(scope=inner, calls=(*calls, block.name),
                           inline=ctx.inline and block.body_kind == "repeat",
                           tensors=block_inputs(block, reads, ctx, args, mark), ahead={})
        built, out = self.composite(block.body_kind, block.body, block.body_mark, body, name,
                                    block.name)
        graph.declare_outputs(built, block.name, block.outputs, block.mark, path)
        return built, out

    # -- composites -------------------------------------------------------------------

    def composite(self, kind: str, args: Any, mark: Mark, ctx: Context, name: str,
                  label: str) -> tuple[Node, Shape]:
        """A composite entry: its keys checked, then built by composites.py."""
        path = ctx.prefix
        if not isinstance(args, YMap):
            raise SpecError(f"{kind} takes a mapping of {', '.join(COMPOSITES[kind])}", mark,
                            path)
        allowed = (*COMPOSITES[kind], *COMMON_KEYS)
        for key in args:
            if key not in allowed:
                raise SpecError(f"{kind} has no option {key!r}{did_you_mean(key, allowed)}; "
                                f"its options: {', '.join(COMPOSITES[kind])}",
                                args.key_marks[key], path)
        return BUILDERS[kind](self, args, mark, ctx, name, label)


def block_inputs(block: Block, reads: list[Node], ctx: Context, args: YMap,
                 mark: Mark) -> Mapping[str, Node]:
    """What a block body can read by name: its inputs (`inputs: [x, skip]`, bound in order
    to the call's `from:`), the first also as `input`; never the caller's other names."""
    first = reads[0] if reads else graph.input_node(ctx.shape, ctx.last)
    given = reads or [first]
    if len(given) != max(1, len(block.inputs)) and (reads or len(block.inputs) > 1):
        want = ", ".join(block.inputs) or "one"
        raise SpecError(f"block {block.name!r} takes {max(1, len(block.inputs))} input(s) "
                        f"({want}); from: gives {len(given)}",
                        args.mark_of("from") if "from" in args else mark, ctx.prefix)
    tensors = {"input": first}
    tensors.update(zip(block.inputs, given))
    return tensors


def _given_names(raw: YList) -> dict[str, Mark]:
    """The names entries of a list give themselves (for "defined later" in messages)."""
    found: dict[str, Mark] = {}
    for item, mark in zip(raw, raw.item_marks):
        if isinstance(item, YMap) and len(item) == 1:
            args = next(iter(item.values()))
            if isinstance(args, YMap) and isinstance(args.get("name"), (str, int)):
                found.setdefault(str(args["name"]), mark)
    return found
