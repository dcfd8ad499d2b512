"""LeNet-5's own units (LeCun et al. 1998) as torch exports cnncli's modules of them, back
into their layers: the connection-table conv (channel gathers, grouped convs, a concat),
the trainable subsampling (an average pool, a factor and a bias per map), the scaled tanh
(two scalings around a tanh) and the Euclidean RBF output (|x|² − 2x·w + |w|², negated).

Each function takes the node that starts its pattern and returns False (taking nothing)
where the nodes that follow are not that pattern."""

from __future__ import annotations

import math

import numpy as np

from ..layers import REGISTRY
from .graph import Walk
from .ops import tidy, window
from .patterns import other_input, scalar_value
from .proto import Node

_SWAP = [1, 0, 2, 3]  # batch and channel axes exchanged, as the dynamo exporter gathers maps


def take(walk: Walk, node: Node) -> bool:
    """Whether `node` starts one of the units (then they are entries, their nodes done)."""
    pattern = PATTERNS.get(node.op)
    return pattern is not None and pattern(walk, node)


def scaled_tanh(walk: Walk, node: Node) -> bool:
    """x · slope → Tanh → · amplitude. `node` is the first Mul."""
    x, slope = _act_and_scalar(walk, node)
    tanh = walk.sole_consumer(node.outputs[0])
    scale = tanh and tanh.op == "Tanh" and walk.sole_consumer(tanh.outputs[0])
    if x is None or not scale or scale.op != "Mul":
        return False
    amplitude = _scalar_beside(walk, scale, tanh.outputs[0])
    if amplitude is None:
        return False
    opts = {}
    for name, value in (("amplitude", amplitude), ("slope", slope)):
        default = REGISTRY["scaled_tanh"].create().arg_values()[name]
        if not math.isclose(value, default, rel_tol=1e-6):
            opts[name] = float(f"{value:.6g}")
    walk.done.update({id(tanh), id(scale)})
    walk.values[scale.outputs[0]] = walk.add("scaled_tanh", opts, [walk.val(x)], node,
                                             nodes=[tanh, scale])
    return True


def subsample(walk: Walk, node: Node) -> bool:
    """AveragePool → · a factor per map → + a bias per map: each window's sum times a
    trainable coefficient (the factor over the window's area), plus a trainable bias."""
    x = walk.val(node.inputs[0])
    mul = walk.sole_consumer(node.outputs[0])
    add = mul and mul.op == "Mul" and walk.sole_consumer(mul.outputs[0])
    if not add or add.op != "Add" or len(x.shape) != 3 or x.nhwc or \
            node.attr("ceil_mode", 0) or node.attr("auto_pad", "NOTSET") != "NOTSET":
        return False
    opts = window(node, tuple(node.attr("kernel_shape", [])), x.shape)
    del opts["dilation"]
    if opts["stride"] == opts["kernel"]:
        del opts["stride"]  # a pool's stride is its kernel unless said
    if any(opts["padding"]) and not node.attr("count_include_pad", 0):
        return False  # the mean of fewer numbers at the edges: not a window sum / area
    factor, bias = (_per_map(walk, n, prev, x.shape[0]) for n, prev in ((mul, node),
                                                                        (add, mul)))
    if factor is None or bias is None:
        return False
    area = int(np.prod(opts["kernel"]))
    walk.done.update({id(mul), id(add)})
    weights = {"weight": (factor, f"/{area}"), "bias": (bias, "chw")}
    walk.values[add.outputs[0]] = walk.add("subsample", tidy(opts), [x], node, weights,
                                           [mul, add])
    return True


def rbf(walk: Walk, node: Node) -> bool:
    """Pow(x, 2) → ReduceSum over the features; x · 2 → MatMul by the prototypes (F x out);
    the sum − that + |w|² → Neg. `node` is the Pow."""
    x, power = _act_and_scalar(walk, node)
    if x is None or power != 2.0 or len(walk.val(x).shape) != 1:
        return False
    total = walk.sole_consumer(node.outputs[0])
    doubled = next((n for n in walk.consumers.get(x, []) if n is not node and n.op == "Mul"
                    and _scalar_beside(walk, n, x) == 2.0), None)
    product = doubled and walk.sole_consumer(doubled.outputs[0])
    if not total or total.op != "ReduceSum" or not product or product.op != "MatMul":
        return False
    prototypes = walk.val(product.inputs[1])
    sub = walk.sole_consumer(total.outputs[0])
    add = sub and sub.op == "Sub" and walk.sole_consumer(sub.outputs[0])
    neg = add and add.op == "Add" and walk.sole_consumer(add.outputs[0])
    if prototypes.weight is None or len(prototypes.shape) != 2 or not neg or \
            neg.op != "Neg" or sub.inputs != [total.outputs[0], product.outputs[0]]:
        return False
    taken = [total, doubled, product, sub, add, neg]
    walk.done.update(id(n) for n in taken)
    walk.values[neg.outputs[0]] = walk.add(
        "rbf", {"out": prototypes.shape[1]}, [walk.val(x)], node,
        {"prototypes": (prototypes.weight, "T")}, taken)
    return True


def connection_table(walk: Walk, node: Node) -> bool:
    """Gathers of a map's channels, each read by one grouped Conv (a group per output map),
    joined by a Concat and put back in the table's order by one more gather: a conv whose
    output maps read given input maps (`connections`). `node` is the first gather (a
    Gather on the channel axis, or the dynamo exporter's Transpose before its GatherNDs)."""
    source = walk.val(node.inputs[0])
    if not source.is_act or len(source.shape) != 3 or source.nhwc:
        return False
    gathers = _channel_gathers(walk, node.inputs[0])
    convs = [_conv_after(walk, out) for _, out, _ in gathers]
    if not gathers or any(conv is None for conv in convs):
        return False
    parts = [(idx, conv) for (idx, _, _), conv in zip(gathers, convs) if conv is not None]
    rows = _rows(walk, parts)
    joined, order, tail = _joined(walk, [conv for _, conv in parts], len(rows))
    if joined is None or not _canonical(walk, parts, rows, order):
        return False
    rows = [rows[p] for p in order]  # output map i is the concat's map order[i]
    first = parts[0][1]
    kernel = walk.val(first.inputs[1]).shape[2:]
    opts = window(first, kernel, source.shape)
    if any(window(c, walk.val(c.inputs[1]).shape[2:], source.shape) != opts
           for _, c in parts):
        return False
    bias = all(len(c.inputs) > 2 and bool(c.inputs[2]) for _, c in parts)
    weights: dict[str, tuple[str, str]] = {}
    for j, (_, conv) in enumerate(parts):
        weights[f"parts.{j}.weight"] = (walk.val(conv.inputs[1]).weight or "", "")
        if bias:
            weights[f"parts.{j}.bias"] = (walk.val(conv.inputs[2]).weight or "", "")
    taken = {id(n): n for _, _, nodes in gathers for n in nodes}
    taken.update({id(c): c for _, c in parts})
    taken.update({id(n): n for n in tail})
    walk.done.update(taken)
    opts = {"out": len(rows), **opts, "connections": rows, "bias": bias}
    walk.values[joined] = walk.add("conv", tidy(opts), [source], node, weights,
                                   [n for n in taken.values() if n is not node])
    return True


def _act_and_scalar(walk: Walk, node: Node) -> tuple[str | None, float | None]:
    """The activation input of a two-input node and its other input's one number."""
    if len(node.inputs) != 2:
        return None, None
    a, b = node.inputs
    x = a if walk.val(a).is_act else b
    value = scalar_value(walk, other_input(node, x)) if walk.val(x).is_act else None
    return (x, value) if value is not None else (None, None)


def _scalar_beside(walk: Walk, node: Node, name: str) -> float | None:
    """The one number a two-input node combines with the value `name`."""
    if len(node.inputs) != 2 or name not in node.inputs:
        return None
    return scalar_value(walk, other_input(node, name))


def _per_map(walk: Walk, node: Node, before: Node, channels: int) -> str | None:
    """The weight a Mul or Add applies per map ([1, C, 1, 1] or [C, 1, 1]) to `before`'s
    output, by its initializer's name."""
    inputs = list(node.inputs)
    if before.outputs[0] not in inputs or len(inputs) != 2:
        return None
    value = walk.val(inputs[1 - inputs.index(before.outputs[0])])
    if value.weight is None or tuple(value.shape) not in ((1, channels, 1, 1),
                                                          (channels, 1, 1)):
        return None
    return value.weight


def _channel_gathers(walk: Walk, source: str) -> list[tuple[np.ndarray, str, list[Node]]]:
    """Every reader of `source` as a gather of its channels by constant indices: (indices,
    the gathered value, the nodes doing it); [] where any reader is something else. A
    gather is a Gather on axis 1 with 1-D indices, or Transpose(1, 0, 2, 3) → GatherND by
    indices [k, 1] → Transpose back (one Transpose may feed several GatherNDs)."""
    found = []
    for user in walk.consumers.get(source, []):
        if user.op == "Gather" and user.attr("axis", 0) == 1:
            idx = walk.val(user.inputs[1]).const
            if idx is None or idx.ndim != 1:
                return []
            found.append((idx, user.outputs[0], [user]))
        elif user.op == "Transpose" and list(user.attr("perm", [])) == _SWAP:
            for gather in walk.consumers.get(user.outputs[0], []):
                one = _gather_nd(walk, gather)
                if one is None:
                    return []
                found.append((one[0], one[1], [user, gather, one[2]]))
        else:
            return []
    return found


def _gather_nd(walk: Walk, node: Node) -> tuple[np.ndarray, str, Node] | None:
    """GatherND of channels (indices [k, 1]) followed by the Transpose back."""
    idx = walk.val(node.inputs[1]).const if node.op == "GatherND" else None
    back = walk.sole_consumer(node.outputs[0])
    if idx is None or node.attr("batch_dims", 0) or idx.ndim != 2 or idx.shape[1] != 1 or \
            back is None or back.op != "Transpose" or list(back.attr("perm", [])) != _SWAP:
        return None
    return idx.reshape(-1), back.outputs[0], back


def _conv_after(walk: Walk, value: str) -> Node | None:
    """The Conv reading `value`, one group per output map."""
    conv = walk.sole_consumer(value)
    if conv is None or conv.op != "Conv" or walk.val(conv.inputs[1]).weight is None:
        return None
    out = walk.val(conv.inputs[1]).shape[0]
    return conv if conv.attr("group", 1) in (1, out) else None


def _sizes(walk: Walk, conv: Node) -> tuple[int, int]:
    """(input maps each output map reads, output maps) of one part."""
    weight = walk.val(conv.inputs[1]).shape
    return weight[1], weight[0]


def _rows(walk: Walk, parts: list[tuple[np.ndarray, Node]]) -> list[list[int]]:
    """The input maps each output map reads, in the parts' (the concat's) order."""
    rows: list[list[int]] = []
    for idx, conv in parts:
        size, maps = _sizes(walk, conv)
        if len(idx) != size * maps:
            return []
        rows += [[int(i) for i in idx[m * size:(m + 1) * size]] for m in range(maps)]
    return rows


def _joined(walk: Walk, convs: list[Node], total: int
            ) -> tuple[str | None, list[int], list[Node]]:
    """The value holding the parts' maps in the table's order, that order (the concat's
    map for each output map) and the nodes after the parts (the Concat, the gather)."""
    out, taken = convs[0].outputs[0], []
    if len(convs) > 1:
        cat = walk.sole_consumer(out)
        if cat is None or cat.op != "Concat" or cat.attr("axis", 0) not in (1, -3) or \
                cat.inputs != [c.outputs[0] for c in convs]:
            return None, [], []
        out, taken = cat.outputs[0], [cat]
    tail = _channel_gathers(walk, out)
    if len(tail) == 1 and sorted(tail[0][0].tolist()) == list(range(total)):
        return tail[0][1], [int(i) for i in tail[0][0]], taken + tail[0][2]
    return out, list(range(total)), taken


def _canonical(walk: Walk, parts: list[tuple[np.ndarray, Node]], rows: list[list[int]],
               order: list[int]) -> bool:
    """Whether the file's parts are the ones `conv: {connections: ...}` builds (grouped by
    row length, shortest first, each group's maps in order), so the weights carry over
    part by part; `rows` in the concat's order, `order` the output maps' places in it."""
    if not rows:
        return False
    place = {p: i for i, p in enumerate(order)}  # concat position -> output map
    lengths = [len(rows[p]) for p in order]
    want = [[i for i, n in enumerate(lengths) if n == size] for size in sorted(set(lengths))]
    got, at = [], 0
    for _, conv in parts:
        maps = _sizes(walk, conv)[1]
        got.append([place[p] for p in range(at, at + maps)])
        at += maps
    return got == want and all(len(set(r)) == len(r) for r in rows)


PATTERNS = {"Mul": scaled_tanh, "AveragePool": subsample, "Pow": rbf,
            "Gather": connection_table, "Transpose": connection_table}
