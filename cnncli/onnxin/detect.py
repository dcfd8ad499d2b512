"""YOLOv8's Detect decoding as exported (DFL softmax and fixed 1x1 conv, distances to boxes
around each anchor, times the strides, sigmoid class scores): one `yolo_decode` entry.

The nodes between the levels' joined maps (a Concat along the anchors, of the box and class
maps together or of each apart) and the graph's output are recognised by what they are: only
layout, elementwise and softmax operators, one Softmax and one conv with a 1 x reg_max x 1 x
1 weight. The levels' grids and strides come from the maps the joins read; the anchors the
file holds, where it holds their numbers, must be the cell centres yolo_decode makes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graph import Walk
from .proto import Node
from .tensors import array, has_data

ALLOWED = {"Reshape", "Transpose", "Softmax", "Conv", "Split", "Slice", "Sub", "Add", "Div",
           "Mul", "Concat", "Sigmoid", "Constant", "Shape", "Gather", "Unsqueeze", "Cast",
           "Identity"}


@dataclass
class Plan:
    joins: list[Node]  # the levels' Concat(s) along the anchors: box and class, or one
    output: str  # the graph output the decoding gives
    reg_max: int
    nodes: list[Node]


def plan(walk: Walk) -> Plan | None:
    """The decoding in this graph, if it has one; its nodes are marked as taken."""
    for output in walk.model.graph.outputs:
        found = _plan_for(walk, output.name)
        if found is not None:
            walk.done.update(id(n) for n in found.nodes)
            return found
    return None


def _plan_for(walk: Walk, output: str) -> Plan | None:
    made = walk.producers
    taken: list[Node] = []
    joins: dict[str, Node] = {}
    todo, seen = [output], set()
    while todo:
        name = todo.pop()
        node = made.get(name)
        if name in seen or node is None:  # an initializer or the graph's input
            if node is None and name not in walk.model.graph.initializers:
                return None
            continue
        seen.add(name)
        if node.op == "Concat" and _along_anchors(node) and _reads_maps(node, made):
            joins[name] = node
            continue
        if node.op not in ALLOWED or node.domain not in ("", "ai.onnx"):
            return None
        taken.append(node)
        todo.extend(i for i in node.inputs if i)
    dfl = [n for n in taken if n.op == "Conv"]
    if not joins or len(joins) > 2 or len(dfl) != 1 or \
            sum(n.op == "Softmax" for n in taken) != 1:
        return None
    weight = walk.model.graph.initializers.get(dfl[0].inputs[1])
    if weight is None or len(weight.dims) != 4 or weight.dims[0] != 1:
        return None
    ordered = [node for out, node in made.items() if out in joins]  # the file's order
    return Plan(ordered, output, weight.dims[1], taken)


def _along_anchors(node: Node) -> bool:
    return node.attr("axis") in (2, -1)


def _reads_maps(node: Node, made: dict[str, Node]) -> bool:
    return all(made.get(i) is not None and made[i].op == "Reshape" for i in node.inputs)


def emit(walk: Walk, found: Plan, shape: tuple[int, ...]) -> bool:
    """The decoding's entries, once every join it reads is made: a concat of the box and
    class maps where the file keeps them apart, then yolo_decode. False if the maps do not
    fit (the decoding stays unpriced)."""
    values = [walk.values.get(j.outputs[0]) for j in found.joins]
    if any(v is None or not v.is_act or len(v.shape) != 2 for v in values):
        return False
    values.sort(key=lambda v: v.shape[0] != 4 * found.reg_max)  # the boxes' bins first
    levels = [walk.val(walk.producers[i].inputs[0]) for i in found.joins[0].inputs]
    grids = [list(v.shape[1:]) for v in levels]
    if any(len(g) != 2 or shape[1] % g[0] for g in grids):
        return False
    strides = [shape[1] // g[0] for g in grids]
    if not _anchors_hold(walk, found, grids):
        return False
    joined = values[0] if len(values) == 1 else \
        walk.add("concat", {}, values, found.joins[-1])
    dfl = next(n for n in found.nodes if n.op == "Conv")
    out = walk.add("yolo_decode", {"reg_max": found.reg_max, "strides": strides,
                                   "grids": grids}, [joined], dfl,
                   {"conv.weight": (dfl.inputs[1], "")}, found.nodes)
    walk.values[found.output] = out
    return True


def _anchors_hold(walk: Walk, found: Plan, grids: list[list[int]]) -> bool:
    """Where the file holds the anchor points' numbers, they are the cells' centres."""
    total = sum(h * w for h, w in grids)
    want = np.concatenate([np.stack(np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5),
                                    0).reshape(2, -1) for h, w in grids], axis=1)
    for node in found.nodes:
        for name in node.inputs:
            tensor = walk.model.graph.initializers.get(name)
            if tensor is None or tensor.size != 2 * total or not has_data(tensor):
                continue
            values = array(walk.model, tensor).reshape(2, total)
            if not np.allclose(values, want):
                return False
    return True
