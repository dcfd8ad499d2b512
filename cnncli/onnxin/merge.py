"""Swin's patch merging in an ONNX graph, read as one `patch_merge` entry: a map laid out
channels-last, padded to even sizes, four slices with steps of 2 along H and W (each 2x2
patch's positions (0, 0), (1, 0), (0, 1), (1, 1)) and their concatenation along the
channels. `plan` finds each one before the walk from its Concat; `emit` checks the slices'
offsets, the pad and the output's shape against the layer's rule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graph import Unsupported, Val, Walk
from .proto import Node
from .shapes import between, full_shapes

ORDER = [(0, 0), (1, 0), (0, 1), (1, 1)]  # torchvision's x0, x1, x2, x3 as (row, column)


@dataclass
class Merge:
    nodes: list[Node]  # in the walk's order
    start: str  # the map
    end: str  # the merged map
    parts: list[list[Node]]  # each part's slices


def plan(walk: Walk, order: list[Node]) -> dict[int, Merge]:
    """Each patch merging by the id of its first node in the walk's order."""
    found: dict[int, Merge] = {}
    for node in order:
        if node.op != "Concat" or len(node.inputs) != 4:
            continue
        chains = [_slices(walk, value) for value in node.inputs]
        sources = {chain[-1].inputs[0] if chain else None for chain in chains}
        if len(sources) != 1 or None in sources:
            continue
        start = sources.pop()
        pad = walk.producers.get(start)  # type: ignore[arg-type]
        if pad is not None and pad.op == "Pad":
            start = pad.inputs[0]
        inside = between(walk, start, node.outputs[0])  # type: ignore[arg-type]
        nodes = [n for n in order if id(n) in inside]
        if nodes:
            found[id(nodes[0])] = Merge(nodes, start, node.outputs[0], chains)  # type: ignore[arg-type]
    return found


def _slices(walk: Walk, value: str) -> list[Node]:
    """The Slice nodes a value comes from, nearest first (none: not a slice)."""
    chain = []
    node = walk.producers.get(value)
    while node is not None and node.op == "Slice" and len(chain) < 4:
        chain.append(node)
        node = walk.producers.get(node.inputs[0])
    return chain


def emit(walk: Walk, merge: Merge) -> bool:
    """The nodes as one `patch_merge` entry; False (nothing changed) where they are not
    Swin's patch merging."""
    x = walk.val(merge.start)
    if not (x.is_act and x.nhwc and len(x.shape) == 3):
        return False
    c, h, w = x.shape
    consts: dict[str, np.ndarray] = {}
    try:
        shapes = full_shapes(walk, merge.nodes, merge.start, (walk.batch, h, w, c), consts)
        offsets = [_offsets(walk, chain, consts) for chain in merge.parts]
        pads = [_pads(walk, n, consts) for n in merge.nodes if n.op == "Pad"]
    except (Unsupported, ValueError, IndexError, TypeError, ZeroDivisionError, KeyError):
        return False
    out = (walk.batch, (h + 1) // 2, (w + 1) // 2, 4 * c)
    if offsets != ORDER or shapes.get(merge.end) != out or \
            any(p[:4] != [0, 0, 0, 0] for p in pads):  # padded after, never before
        return False
    first, *rest = merge.nodes
    added = walk.add("patch_merge", {}, [x], first, nodes=rest)
    walk.values[merge.end] = Val(entry=added.entry, shape=added.shape, nhwc=True)
    walk.done.update(id(n) for n in merge.nodes)
    return True


def _offsets(walk: Walk, chain: list[Node], consts: dict[str, np.ndarray]) -> tuple[int, int]:
    """A part's first row and column, from its slices: steps of 2 along H and W only."""
    start = {}
    for node in chain:
        starts, _, axes, steps = (_const(walk, i, consts) for i in node.inputs[1:5])
        for begin, axis, step in zip(starts.reshape(-1), axes.reshape(-1), steps.reshape(-1)):
            if int(axis) % 4 not in (1, 2) or int(step) != 2 or int(axis) % 4 in start:
                raise Unsupported("a slice that is no patch")
            start[int(axis) % 4] = int(begin)
    return start.get(1, -1), start.get(2, -1)


def _pads(walk: Walk, node: Node, consts: dict[str, np.ndarray]) -> list[int]:
    """A Pad's amounts, begins first, with zeros: [N, H, W, C begins, then ends]."""
    if node.attr("mode", "constant") != "constant":
        raise Unsupported("a pad that is not zeros")
    pads = node.attr("pads") or _const(walk, node.inputs[1], consts).reshape(-1).tolist()
    return [int(p) for p in pads]


def _const(walk: Walk, name: str, consts: dict[str, np.ndarray]) -> np.ndarray:
    if name in consts:
        return consts[name]
    value = walk.values.get(name)
    if value is None or value.const is None:
        raise Unsupported(f"{name!r} is computed")
    return value.const
