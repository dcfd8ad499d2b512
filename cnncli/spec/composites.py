"""The composites resolved: sequence, residual (with its shortcut, and the automatic
projection), gate, concat and repeat. Each takes the entry's `Context`, with the
composite's namespace as `ctx.prefix` (where its errors are located), and returns its node
and output shape; the resolver (`Walker`) resolves their lists and entries."""

from __future__ import annotations

from typing import Any, Protocol

from ..errors import Mark, SpecError, yaml_repr
from ..layers import REGISTRY, Shape, shape_text
from .blocks import LAYER_NAME_RE, LAYER_NAME_RULE, NAME_RE
from .context import Context, claim_all, flag, join, require, slots, value
from .ir import (
    UNNAMED,
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
from .yamlsrc import YList, YMap

MAX_REPEAT = 100_000
SHORTCUTS = ("auto", "identity", "none")


class Walker(Protocol):
    """What the composites need of the resolver."""

    def items(self, raw: Any, mark: Mark, ctx: Context, what: str,
              first_index: int = 0) -> tuple[list[Node], Shape]: ...

    def entry(self, raw: Any, mark: Mark, ctx: Context,
              default_name: str) -> tuple[Node | None, Shape]: ...


Built = tuple[Node, Shape]


def sequence(r: Walker, args: YMap, mark: Mark, ctx: Context, name: str, label: str) -> Built:
    require(args, "layers", "sequence", mark, ctx.prefix)
    kids, out = r.items(args["layers"], args.mark_of("layers"), ctx, "layers", ctx.start)
    return Sequence(name=name, path=ctx.prefix, mark=mark, frozen=ctx.frozen, children=kids,
                    label=label, input=ctx.shape, output=out), out


def residual(r: Walker, args: YMap, mark: Mark, ctx: Context, name: str, label: str) -> Built:
    path = ctx.prefix
    require(args, "layers", "residual", mark, path)
    body, body_out = r.items(args["layers"], args.mark_of("layers"), ctx, "layers", ctx.start)
    shortcut_name = args.get("shortcut_name", "shortcut")
    if not isinstance(shortcut_name, str) or not LAYER_NAME_RE.fullmatch(shortcut_name):
        raise SpecError(f"shortcut_name must be a plain name ({LAYER_NAME_RULE}), got "
                        f"{shortcut_name!r}",
                        args.mark_of("shortcut_name"), path)
    shortcut = _shortcut(r, args, ctx, shortcut_name)
    after: list[Node] = []
    out = body_out
    if "after" in args:
        # one namespace with the body: unnamed layers' indices continue after the body's;
        # it starts from the sum, which no node gives (without a shortcut: the body's end)
        last = UNNAMED if shortcut != "none" else body[-1].path if body else ctx.last
        after, out = r.items(args["after"], args.mark_of("after"),
                             ctx.replace(shape=body_out, last=last), "after",
                             ctx.start + sum(slots(n) for n in body))
    seen: dict[str, Mark] = {}
    for node in [*body, *after]:
        claim_all(seen, node, path)
    if shortcut == "none":  # no residual this time: the layers in a row
        return Sequence(name=name, path=path, mark=mark, frozen=ctx.frozen,
                        children=[*body, *after], label=label, input=ctx.shape,
                        output=out), out
    if shortcut_name in seen:
        raise SpecError(f"the name {shortcut_name!r} is taken by the residual's shortcut "
                        "path", seen[shortcut_name], path)
    return Residual(name=name, path=path, mark=mark, frozen=ctx.frozen, body=body,
                    shortcut=shortcut, after=after, label=label, shortcut_name=shortcut_name,
                    input=ctx.shape, output=out), out


def _shortcut(r: Walker, args: YMap, ctx: Context, name: str) -> str | Sequence:
    """auto, identity, none (no add), a list of layers (named under the shortcut's own
    path, `path.name`), or an expression giving a word."""
    if "shortcut" not in args:
        return "auto"
    raw, where = args["shortcut"], args.mark_of("shortcut")
    if isinstance(raw, YList):
        own = join(ctx.prefix, name)
        kids, out = r.items(raw, where, ctx.replace(prefix=own), "shortcut")
        return Sequence(name=name, path=own, mark=where, frozen=ctx.frozen, label="shortcut",
                        children=kids, input=ctx.shape, output=out)
    bare_word = isinstance(raw, str) and NAME_RE.fullmatch(raw) and raw not in ctx.scope
    word = value(raw, ctx.scope, where, SHORTCUTS, ctx.path) \
        if isinstance(raw, str) and not bare_word else raw
    if word not in SHORTCUTS:
        raise SpecError("shortcut must be auto, identity, none, a list of layers, or an "
                        f"expression giving one of those words, got {yaml_repr(word)}",
                        where, ctx.prefix)
    return word


def settle_shortcuts(node: Node) -> None:
    """Settle every `auto` shortcut, once the whole network is resolved: a projection that
    cannot be made is reported after the spec's other errors, in the order the analysis
    meets the adds (a residual's body, its shortcut, itself, then its `after`)."""
    if not isinstance(node, Residual):
        for child in children(node):
            settle_shortcuts(child)
        return
    for child in node.body:
        settle_shortcuts(child)
    if isinstance(node.shortcut, Sequence):
        settle_shortcuts(node.shortcut)
    _settle(node)
    for child in node.after:
        settle_shortcuts(child)


def _settle(node: Residual) -> None:
    """`auto` becomes the identity where the body keeps the shape, else the projection:
    1x1 conv (no bias) + batchnorm mapping the input to the body's output, named in the
    residual's final namespace (an inline one's parent's)."""
    if node.shortcut != "auto":
        return
    shape = node.input
    target = node.body[-1].output if node.body else shape
    if target == shape:
        node.shortcut = "identity"
        return
    if len(shape) != 3 or len(target) != 3:
        raise SpecError(f"residual add: the body gives {shape_text(target)} from "
                        f"{shape_text(shape)}; "
                        "an automatic projection needs feature maps, so give the shortcut "
                        "layers explicitly", node.mark, node.path)
    strides = []
    for size, out in zip(shape[1:], target[1:]):
        stride = next((s for s in range(1, size + 1) if (size - 1) // s + 1 == out), None)
        if stride is None:
            raise SpecError(f"residual add: no strided 1x1 conv maps {shape_text(shape)} to "
                            f"{shape_text(target)}; give the shortcut layers explicitly",
                            node.mark, node.path)
        strides.append(stride)
    conv = REGISTRY["conv"].create(out=target[0], kernel=1, stride=strides, bias=False)
    bn = REGISTRY["batchnorm"].create()
    space = node.path.rpartition(".")[0] if node.inline else node.path
    path = join(space, node.shortcut_name)
    seq = Sequence(name=node.shortcut_name, path=path, mark=node.mark, frozen=node.frozen,
                   label="projection", input=shape)
    flowing = shape
    for i, layer in enumerate((conv, bn)):
        child = LayerNode(name=str(i), path=f"{path}.{i}", mark=node.mark,
                          frozen=node.frozen, layer=layer)
        flowing = child.apply(flowing)
        seq.children.append(child)
    seq.output = flowing
    node.shortcut, node.auto = seq, True


def gate(r: Walker, args: YMap, mark: Mark, ctx: Context, name: str, label: str) -> Built:
    require(args, "layers", "gate", mark, ctx.prefix)
    layers, gate_out = r.items(args["layers"], args.mark_of("layers"), ctx, "layers",
                               ctx.start)
    node = Gate(name=name, path=ctx.prefix, mark=mark, frozen=ctx.frozen, layers=layers,
                label=label, input=ctx.shape, output=ctx.shape)
    check_gate(node, ctx.shape, gate_out)
    return node, ctx.shape


def concat(r: Walker, args: YMap, mark: Mark, ctx: Context, name: str, label: str) -> Built:
    path = ctx.prefix
    require(args, "branches", "concat", mark, path)
    named, where = _branches(args, path)
    node = Concat(name=name, path=path, mark=mark, frozen=ctx.frozen, label=label,
                  split=flag(args, "split", ctx.scope, False, ctx.path), input=ctx.shape)
    index = ctx.start
    # Every branch starts from the concat's input, or with split from its equal share
    # (a split branch cannot be dropped with when:, checked below).
    shapes: list[tuple[str, Shape]] = []
    seen: dict[str, Mark] = {}
    share = split_input(ctx.shape, len(named), mark, path) if node.split else ctx.shape
    for given_name, item, bmark in named:
        bname = given_name if given_name is not None else str(index)
        here = ctx.replace(shape=share, start=index, last=UNNAMED if node.split else ctx.last)
        if isinstance(item, YList):
            bpath = join(path, bname)
            kids, out = r.items(item, bmark, here.replace(prefix=bpath), "a branch")
            branch: Node | None = Sequence(name=bname, path=bpath, mark=bmark,
                                           frozen=ctx.frozen, label="branch", children=kids,
                                           input=share, output=out)
        else:
            branch, out = r.entry(item, bmark, here, bname)
            if branch is None:
                continue
        claim_all(seen, branch, path)
        node.branches.append(branch)
        index += slots(branch)
        shapes.append((branch.name, out))
    if not node.branches:
        raise SpecError("concat needs at least one branch", where, path)
    if node.split and len(node.branches) != len(named):
        raise SpecError("a split concat cannot drop branches with when: each branch takes "
                        "its share of the channels", where, path)
    node.joined = node.output = concat_output(node, shapes)
    if "after" in args:
        node.after, node.output = r.items(args["after"], args.mark_of("after"),
                                          ctx.replace(shape=node.joined, last=UNNAMED),
                                          "after", index)
        for child in node.after:
            claim_all(seen, child, path)
    return node, node.output


def _branches(args: YMap, path: str) -> tuple[list[tuple[str | None, Any, Mark]], Mark]:
    """A concat's branches as (name or None, entry, mark), from a mapping or a list."""
    raw, where = args["branches"], args.mark_of("branches")
    if isinstance(raw, YMap):
        for key in raw:
            if not LAYER_NAME_RE.fullmatch(key):
                raise SpecError(f"branch name {key!r} must be a plain name ({LAYER_NAME_RULE})",
                                raw.key_marks[key], path)
        return [(key, raw[key], raw.mark_of(key)) for key in raw], where
    if isinstance(raw, YList):
        return [(None, item, m) for item, m in zip(raw, raw.item_marks)], where
    raise SpecError("branches must be a mapping of name: layers, or a list", where, path)


def repeat(r: Walker, args: YMap, mark: Mark, ctx: Context, name: str, label: str) -> Built:
    path = ctx.prefix
    require(args, "count", "repeat", mark, path)
    require(args, "body", "repeat", mark, path)
    count, var = _count(args, ctx), args.get("var", "i")
    if not isinstance(var, str) or not NAME_RE.fullmatch(var):
        raise SpecError(f"repeat var must be a plain identifier, got {var!r}",
                        args.mark_of("var"), path)
    body, body_mark = args["body"], args.mark_of("body")
    inline, index, shape, last = ctx.inline, ctx.start, ctx.shape, ctx.last
    prefix, start = _item_names(args, ctx)
    kids: list[Node] = []
    seen: dict[str, Mark] = {}
    for i in range(count):
        # each item reads the one before it: a block's `input` is that item's output
        here = ctx.replace(scope={**ctx.scope, var: i}, shape=shape, start=index, last=last)
        node: Node | None
        # kept items are counted: a `when` that drops one leaves no gap in the names
        given = f"{prefix}{start + len(kids)}" if prefix or start else str(index)
        if isinstance(body, YList):
            # An inline repeat's items are inline too: their layers join the parent's list.
            iname = f"{index}-" if inline else given
            node = Sequence(name=iname, path=join(path, iname), mark=body_mark,
                            frozen=ctx.frozen, label="repeat item", inline=inline,
                            input=shape)
            node.children, out = r.items(body, body_mark, here.replace(
                prefix=path if inline else node.path), "body", index if inline else 0)
            if inline and not node.children:
                continue  # every layer of this item was left out by `when`
            if inline:
                node.name = f"{index}-{index + slots(node) - 1}"
                node.path = join(path, node.name)
            node.output = out
        else:
            node, out = r.entry(body, body_mark, here.replace(prefix=path), given)
        if node is not None:
            claim_all(seen, node, path)
            kids.append(node)
            index += slots(node)
            shape, last = out, node.path
    return Sequence(name=name, path=path, mark=mark, frozen=ctx.frozen, children=kids,
                    label=label, input=ctx.shape, output=shape), shape


def _count(args: YMap, ctx: Context) -> int:
    count = value(args["count"], ctx.scope, args.mark_of("count"), path=ctx.path)
    if isinstance(count, float) and count.is_integer():
        count = int(count)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise SpecError(f"repeat count must be a whole number >= 0, got {count!r}",
                        args.mark_of("count"), ctx.prefix)
    if count > MAX_REPEAT:
        raise SpecError(f"repeat count {count:,} is more than {MAX_REPEAT:,}",
                        args.mark_of("count"), ctx.prefix)
    return count


def _item_names(args: YMap, ctx: Context) -> tuple[str, int]:
    """`prefix` and `start` of a repeat's item names: denselayer1, denselayer2, ..."""
    prefix = args.get("prefix", "")
    if prefix and (not isinstance(prefix, str) or not LAYER_NAME_RE.fullmatch(prefix)):
        raise SpecError(f"repeat prefix must be a plain name ({LAYER_NAME_RULE}), got "
                        f"{prefix!r}",
                        args.mark_of("prefix"), ctx.prefix)
    start = value(args.get("start", 0), ctx.scope, args.mark_of("start"), path=ctx.path) \
        if "start" in args else 0
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise SpecError(f"repeat start must be a whole number >= 0, got {start!r}",
                        args.mark_of("start"), ctx.prefix)
    return prefix, start


BUILDERS = {"sequence": sequence, "residual": residual, "gate": gate, "concat": concat,
            "repeat": repeat}
