"""MaxViT's partitions in an ONNX graph: a map's positions regrouped into size x size
blocks of neighbours, or a grid of positions spread over the map (Reshape, Transpose,
Reshape, and for the grid a Transpose that swaps the two middle axes), and back. The walk
keeps the map as it is, laid out channels-last with its partition remembered: the layers
between (layer norms, linear layers, GELU, residual adds) act on each position whatever
the grouping, and attention reads the partition from it (`attention`). Each chain is
checked by running its reshapes and transposes on the positions' indices."""

from __future__ import annotations

import math

import numpy as np

from .fold import FOLD_LIMIT, FOLDS
from .graph import Unsupported, Val, Walk
from .proto import Node

LAYOUT = ("Reshape", "Transpose")


def take(walk: Walk, node: Node) -> bool:
    """A chain from a map to its partitions, or from partitions back to the map, starting at
    `node`: its values set, its nodes done; False where it is neither."""
    x = walk.val(node.inputs[0])
    if not x.is_act or len(x.shape) != 3 or math.prod(x.shape) > FOLD_LIMIT:
        return False
    chain, value = [], node.inputs[0]
    step = node
    while step is not None and step.op in LAYOUT and len(chain) < 5:
        chain.append(step)
        value = step.outputs[0]
        try:
            found = _reads(walk, x, chain)
        except Unsupported:
            return False
        if found is not None:
            walk.done.update(id(n) for n in chain)
            walk.values[value] = found
            return True
        step = walk.sole_consumer(value)
    return False


def _reads(walk: Walk, x: Val, chain: list[Node]) -> Val | None:
    """What the chain makes of `x` (a map, or its partitions): partitions (blocks or a grid,
    which a grid's first reshapes pass through as blocks), the map back, or None (not
    yet)."""
    c, h, w = x.shape
    index = np.arange(c * h * w).reshape(c, h, w)
    start = _partitioned(index, *x.parts) if x.parts else (index.transpose(1, 2, 0) if x.nhwc
                                                           else index)
    out = start[None]
    for node in chain:
        out = _apply(walk, node, out)
    if x.parts and out.shape == (1, c, h, w) and np.array_equal(out[0], index):
        return Val(entry=x.entry, shape=x.shape)  # back to the map, NCHW
    if out.ndim != 4 or out.shape[-1] != c:
        return None  # not yet (or never): the caller looks one node further
    size = math.isqrt(out.shape[2])
    for grid in (False, True):
        if size * size == out.shape[2] and h % size == 0 and w % size == 0 and \
                np.array_equal(out[0], _partitioned(index, size, grid)):
            return Val(entry=x.entry, shape=x.shape, nhwc=True, parts=(size, grid))
    return None


def _partitioned(index: np.ndarray, size: int, grid: bool) -> np.ndarray:
    """A map's (C, H, W) numbers as partitions (groups, size², C), as cnncli's module and
    torchvision's MaxViT group them."""
    c, h, w = index.shape
    s = size
    parts = index.reshape(c, h // s, s, w // s, s).transpose(1, 3, 2, 4, 0) if not grid \
        else index.reshape(c, s, h // s, s, w // s).transpose(2, 4, 1, 3, 0)
    return parts.reshape((h // s) * (w // s), s * s, c)


def _apply(walk: Walk, node: Node, data: np.ndarray) -> np.ndarray:
    """The node on the indices: constant folding's own Transpose and Reshape."""
    target = walk.values.get(node.inputs[1]) if node.op == "Reshape" else Val(const=data)
    if target is None or target.const is None:
        raise Unsupported("a reshape by computed numbers")
    try:
        return FOLDS[node.op](node, [data, target.const])[0]
    except ValueError as exc:
        raise Unsupported(str(exc)) from None
