"""Design lessons `cnncli explain` points out, with the network's own numbers.

A figure for a design the network does not use (a 5x5 conv without its 1x1 reduction, one
large kernel instead of a stack of 3x3s) comes from the same layer rule the analyzer uses,
applied to the other input: `layer.infer(shape)`, never a second formula.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ..layers import Cost, Layer, shape_text
from ..layers.conv import Conv
from ..spec.ir import Residual
from .analyze import Analysis, Row

SHOWN = 3  # examples per lesson; the rest are counted


@dataclass
class Lesson:
    title: str
    lines: list[str] = field(default_factory=list)


def lessons(a: Analysis) -> list[Lesson]:
    found = [reductions(a), stacks(a), projections(a)]
    return [lesson for lesson in found if lesson is not None]


def _leaves(a: Analysis) -> list[Row]:
    return [r for r in a.root.walk() if r.is_leaf]


def _conv(row: Row) -> bool:
    return row.is_layer and row.kind == "conv"


def _conv_of(row: Row) -> Conv:
    """The conv of a row `_conv` accepted."""
    layer = row.layer
    assert isinstance(layer, Conv)
    return layer


def _passive(row: Row) -> bool:
    """A layer that keeps the shape and does no MACs (norm, activation, dropout)."""
    return row.is_layer and row.op is None and not row.macs and row.input == row.output


def _followers(leaves: list[Row], i: int) -> Iterator[Row]:
    """The layers fed, in a straight line, by leaves[i]: through norms and activations."""
    prev = leaves[i]
    for row in leaves[i + 1:]:
        if row.op is not None or row.input != prev.output:
            return
        yield row
        if not _passive(row):
            return
        prev = row


def _other(row: Row, shape: tuple[int, ...], **changes: object) -> Cost:
    """The cost on `shape` of the row's layer with some arguments changed (a design the
    network does not use)."""
    layer: Layer = row.layer
    return type(layer).create(**{**layer.arg_values(), **changes}).infer(shape)


def reductions(a: Analysis) -> Lesson | None:
    """A 1x1 conv that cuts the channels before a larger conv: MACs with and without it."""
    leaves, seen, found = _leaves(a), set(), []
    for i, r in enumerate(leaves):
        if not _conv(r):
            continue
        layer = _conv_of(r)
        if not (layer.kernel == (1, 1) and layer.stride == (1, 1) and r.output[0] < r.input[0]):
            continue
        k = next((f for f in _followers(leaves, i) if _conv(f)), None)
        # A grouped (depthwise) follower is not the conv a reduction serves: MobileNet's
        # and EfficientNet's projection before the next block's depthwise conv.
        if k is None or _conv_of(k).kernel == (1, 1) or _conv_of(k).groups != 1:
            continue
        key = (r.input, r.output, k.output, _conv_of(k).kernel)
        if key in seen:
            continue
        seen.add(key)
        direct = _other(k, r.input)
        if direct.macs > r.macs + k.macs:  # only where the 1x1 pays for itself
            found.append((direct.macs - r.macs - k.macs, r, k, direct.macs))
    if not found:
        return None
    found.sort(key=lambda f: -f[0])
    lesson = Lesson("A 1x1 reduction before a larger conv")
    for _, r, k, direct in found[:SHOWN]:
        kh, kw = _conv_of(k).kernel
        lesson.lines += [
            f"{k.path}: {kh}x{kw} conv to {k.output[0]} channels on {shape_text(k.output[1:])}.",
            f"  directly on {r.path}'s input ({shape_text(r.input)}): {direct:,} MACs",
            f"  after {r.path} cuts {r.input[0]} channels to {r.output[0]}: {r.macs:,} + "
            f"{k.macs:,} = {r.macs + k.macs:,} MACs ({direct / (r.macs + k.macs):.1f}x fewer)"]
    return _more(lesson, len(found), "more of this shape", "reductions")


def stacks(a: Analysis) -> Lesson | None:
    """Stacked 3x3 convs against the one larger kernel with the same receptive field."""
    leaves, seen, found = _leaves(a), set(), []
    i = 0
    while i < len(leaves):
        run = _run3x3(leaves, i)
        if len(run) >= 2:
            key = (run[0].input, run[-1].output, len(run))
            if key not in seen:
                seen.add(key)
                found.append(run)
            i = leaves.index(run[-1])
        i += 1
    if not found:
        return None
    found.sort(key=lambda run: run[0].input[0] != run[-1].output[0])  # like for like first
    lesson = Lesson("Stacked 3x3 convs against one larger kernel")
    for run in found[:SHOWN]:
        n, k = len(run), 2 * len(run) + 1
        one = _other(run[0], run[0].input, out=run[-1].output[0], kernel=(k, k),
                     padding=(n, n))
        params, macs = sum(r.params for r in run), sum(r.macs for r in run)
        lesson.lines += [
            f"{run[0].path} … {run[-1].path}: {n} stacked 3x3 convs see {k}x{k} input pixels, "
            f"as one {k}x{k} conv would.",
            f"  the stack: {' + '.join(f'{r.params:,}' for r in run)} = {params:,} params, "
            f"{' + '.join(f'{r.macs:,}' for r in run)} = {macs:,} MACs",
            f"  one {k}x{k} conv from {shape_text(run[0].input)} to "
            f"{shape_text(run[-1].output)}: {one.params:,} params, {one.macs:,} MACs "
            f"({one.macs / macs:.2f}x), and {n - 1} nonlinearit{'y' if n == 2 else 'ies'} less"]
    return _more(lesson, len(found), "more stacks of this kind", "stacks")


def _run3x3(leaves: list[Row], i: int) -> list[Row]:
    """The 3x3, stride 1 convs that follow each other from leaves[i], through norms."""
    run: list[Row] = []
    if not _plain3x3(leaves[i]):
        return run
    run.append(leaves[i])
    while True:
        nxt = next((f for f in _followers(leaves, leaves.index(run[-1])) if not _passive(f)),
                   None)
        if nxt is None or not _plain3x3(nxt):
            return run
        run.append(nxt)


def _plain3x3(row: Row) -> bool:
    if not _conv(row):
        return False
    layer = _conv_of(row)
    return (layer.kernel == (3, 3) and layer.stride == (1, 1) and layer.dilation == (1, 1)
            and layer.groups == 1)


def projections(a: Analysis) -> Lesson | None:
    """Why a residual block has a projection where it does."""
    found = []
    for row in a.root.walk():
        side = next((c for c in row.children if c.role == "shortcut"), None)
        if side is not None and isinstance(row.node, Residual) and row.node.auto \
                and row.op is None:
            found.append((row, side))
    if not found:
        return None
    lesson = Lesson("Why a residual block has a projection where it does")
    for row, side in found[:SHOWN + 1]:
        conv = _conv_of(side.children[0])
        s = conv.stride[0] if conv.stride[0] == conv.stride[1] else shape_text(conv.stride)
        lesson.lines.append(
            f"{row.path}: the body maps {shape_text(row.input)} to {shape_text(side.output)} "
            f"(channels {row.input[0]} → {side.output[0]}, stride {s}), so x cannot be added as "
            f"it is: a 1x1 conv with stride {s} and a batch norm map it, for {side.params:,} "
            f"params and {side.macs:,} MACs.")
    lesson.lines.append("Blocks whose body keeps the shape add x as it is (identity shortcut).")
    return _more(lesson, len(found), "more projections", "projections", SHOWN + 1)


def _more(lesson: Lesson, count: int, what: str, kind: str, shown: int = SHOWN) -> Lesson:
    if count > shown:
        lesson.lines.append(f"({count - shown} {what}; {count} distinct {kind} in all)")
    return lesson
