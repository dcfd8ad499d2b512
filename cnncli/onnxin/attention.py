"""Multi-head self-attention in an ONNX graph, read as one `attention` entry.

Exporters write a transformer's attention as dozens of nodes: a q, k, v projection, the
reshapes and transposes that split it into heads (moving the batch axis, which the walk's
per-sample shapes cannot follow), the scaled product of queries by keys, a softmax, the
product by values, the heads gathered back and an output projection. `plan` finds each such
region before the walk, from its two products; `emit` follows the region's full shapes
(batch axis included, shape arithmetic folded) to read the heads, checks that the region
gives back its input's tokens, and adds the entry with its four weights. What does not fit
stays nodes, which the walk then reports as it does any graph it cannot follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fold import FOLD_LIMIT, FOLDS
from .graph import Unsupported, Val, Walk
from .proto import Node

#: nodes between the projections and the products that only move, pick or scale numbers
BETWEEN = {"Transpose", "Reshape", "Unsqueeze", "Squeeze", "Gather", "Mul", "Div", "Slice",
           "Split", "Identity", "Dropout", "Cast"}
#: nodes after the output projection that only lay its tokens out again
AFTER = {"Transpose", "Reshape", "Identity"}


@dataclass
class Region:
    nodes: list[Node]  # in the walk's order
    start: str  # the tokens the attention reads
    end: str  # the tokens it gives
    products: tuple[Node, Node]  # queries by keys, weights by values
    in_proj: list[Node]  # the projection (MatMul or Gemm) and its bias Add, if apart
    out_proj: list[Node]


def plan(walk: Walk, order: list[Node]) -> dict[int, Region]:
    """Each attention region by the id of its first node in the walk's order."""
    regions: dict[int, Region] = {}
    for node in order:
        if node.op == "Softmax":
            found = _region(walk, node, order)
            if found is not None:
                regions[id(found.nodes[0])] = found
    return regions


def _region(walk: Walk, softmax: Node, order: list[Node]) -> Region | None:
    av = walk.sole_consumer(softmax.outputs[0])
    qk = walk.producers.get(softmax.inputs[0])
    while qk is not None and qk.op in ("Mul", "Div", "Add"):  # a scale or a mask after it
        qk = walk.producers.get(_data_input(walk, qk))
    if av is None or av.op != "MatMul" or qk is None or qk.op != "MatMul":
        return None
    sources = [_projection(walk, name) for name in (*qk.inputs, av.inputs[1])]
    if None in sources or len({tuple(id(n) for n in s or ()) for s in sources}) != 1:
        return None  # q, k and v from one packed projection only
    in_proj = list(sources[0] or ())
    out_proj = _output_projection(walk, av)
    if out_proj is None:
        return None
    start = in_proj[0].inputs[0]
    while start in walk.producers and walk.producers[start].op == "Transpose":
        start = walk.producers[start].inputs[0]
    end = out_proj[-1].outputs[0]
    after = walk.sole_consumer(end)
    while after is not None and after.op in AFTER:
        end = after.outputs[0]
        after = walk.sole_consumer(end)
    inside = _between(walk, start, end)
    nodes = [n for n in order if id(n) in inside]
    for node in nodes:  # nothing inside may be read from outside
        for value in node.outputs:
            if value != end and any(id(c) not in inside for c in walk.consumers.get(value, [])):
                return None
    return Region(nodes, start, end, (qk, av), in_proj, out_proj)


def _data_input(walk: Walk, node: Node) -> str:
    """The input that carries the numbers moved or scaled: the first that is no constant
    or weight the walk knows already (a scale computed from shapes comes second)."""
    return next((i for i in node.inputs if i and i not in walk.values), node.inputs[0])


def _weight(walk: Walk, node: Node) -> bool:
    """A MatMul or Gemm of an activation by a weight (an initializer)."""
    return node.op in ("MatMul", "Gemm") and len(node.inputs) > 1 and \
        node.inputs[1] in walk.model.graph.initializers


def _projection(walk: Walk, value: str) -> tuple[Node, ...] | None:
    """The projection a product's operand comes from, back through BETWEEN nodes: the
    MatMul or Gemm by a weight and its bias Add (if apart)."""
    node = walk.producers.get(value)
    bias: tuple[Node, ...] = ()
    while node is not None and node.op in BETWEEN:
        node = walk.producers.get(_data_input(walk, node))
    if node is not None and node.op == "Add":
        adds = [i for i in node.inputs if i in walk.producers]
        bias = (node,)
        node = walk.producers.get(adds[0]) if len(adds) == 1 else None
    if node is None or not _weight(walk, node):
        return None
    return (node, *bias)


def _output_projection(walk: Walk, av: Node) -> list[Node] | None:
    node = walk.sole_consumer(av.outputs[0])
    while node is not None and node.op in AFTER:
        node = walk.sole_consumer(node.outputs[0])
    if node is None or not _weight(walk, node):
        return None
    found = [node]
    add = walk.sole_consumer(node.outputs[0])
    if node.op == "MatMul" and add is not None and add.op == "Add" and \
            any(i in walk.model.graph.initializers for i in add.inputs):
        found.append(add)
    return found


def _between(walk: Walk, start: str, end: str) -> set[int]:
    """Ids of the nodes on a path from `start` to `end` (Shape nodes of them included)."""
    ahead, todo = set(), [start]
    while todo:
        value = todo.pop()
        for node in walk.consumers.get(value, []):
            if id(node) not in ahead and value != end:
                ahead.add(id(node))
                todo.extend(node.outputs)
    behind, todo, seen = set(), [end], {start}
    while todo:
        value = todo.pop()
        node = walk.producers.get(value)
        if value in seen or node is None or id(node) not in ahead:
            continue
        seen.add(value)
        behind.add(id(node))
        todo.extend(node.inputs)
    return behind


def emit(walk: Walk, region: Region) -> bool:
    """The region as one `attention` entry; False (nothing changed) where it is not the
    attention cnncli builds."""
    x = walk.val(region.start)
    if not (x.is_act and len(x.shape) == 2):
        return False
    d, length = x.shape
    full = (walk.batch, length, d) if x.nhwc else (walk.batch, d, length)  # as the file has it
    try:
        shapes = _shapes(walk, region, full)
        qk, _ = region.products
        head = shapes[qk.inputs[0]][-1]
        laid = {(walk.batch, length, d): True, (walk.batch, d, length): False}
        if shapes[region.end] not in laid or d % head:
            return False  # not its tokens back (an exporter may transpose them back)
        weights = _weights(walk, region, d)
    except (Unsupported, ValueError, IndexError, TypeError, ZeroDivisionError, KeyError):
        return False  # a shape or constant that does not work out: the nodes say where
    opts: dict = {"heads": d // head}
    if "in_proj_bias" not in weights:
        opts["bias"] = False
    first, *rest = region.nodes
    out = walk.add("attention", opts, [x], first, weights, rest)
    walk.values[region.end] = Val(entry=out.entry, shape=out.shape,
                                  nhwc=laid[shapes[region.end]])
    walk.done.update(id(n) for n in region.nodes)
    return True


Full = tuple[int, ...]


def _shapes(walk: Walk, region: Region, start: Full) -> dict[str, Full]:
    """Every value's full shape in the region (batch axis included), shape arithmetic
    folded to constants on the way."""
    shapes: dict[str, Full] = {region.start: start}
    consts: dict[str, np.ndarray] = {}

    def const(name: str, depth: int = 0) -> np.ndarray | None:
        if name in consts or name in shapes:
            return consts.get(name)
        value = walk.values.get(name)
        if value is not None:
            return value.const
        node = walk.producers.get(name)  # shape arithmetic the walk has not reached yet
        if node is None or node.op not in FOLDS or depth > 64 or \
                any(id(node) == id(n) for n in region.nodes):
            return None
        ins = [const(i, depth + 1) if i else None for i in node.inputs]
        if any(c is None for c, i in zip(ins, node.inputs) if i):
            return None
        fold(node, ins)
        return consts.get(name)

    def fold(node: Node, ins: list[np.ndarray | None]) -> None:
        for out, folded in zip(node.outputs, FOLDS[node.op](node, ins)):
            if folded.size > FOLD_LIMIT:
                raise Unsupported(f"a constant of {folded.size:,} numbers")
            consts[out] = folded

    def shape(name: str) -> Full:
        if name in shapes:
            return shapes[name]
        if name in consts:
            return tuple(consts[name].shape)
        value = walk.values.get(name, Val())
        if value.weight is not None or value.const is not None:
            return tuple(value.shape) if value.weight else tuple(value.const.shape)
        raise Unsupported(f"{name!r} has no known shape")

    for node in region.nodes:
        ins = [const(i) if i else None for i in node.inputs]
        if node.op == "Shape":
            full = np.array(shape(node.inputs[0]), dtype=np.int64)
            consts[node.outputs[0]] = full[node.attr("start", 0):node.attr("end", None)]
        elif node.op in FOLDS and all(c is not None for c, i in zip(ins, node.inputs) if i):
            fold(node, ins)
        else:
            for out, value in zip(node.outputs, _rule(node, [shape(i) if i else () for i in
                                                            node.inputs], ins)):
                shapes[out] = value
    return shapes


def _rule(node: Node, shapes: list[Full], consts: list[np.ndarray | None]) -> list[Full]:
    """The output shapes of one node from its inputs' (a view of nothing: no numbers)."""
    op, first = node.op, shapes[0]
    if op in ("Softmax", "Cast", "Identity", "Dropout", "Sqrt", "Erf"):
        return [first]
    if op in ("Add", "Mul", "Div", "Sub"):
        return [tuple(np.broadcast_shapes(*shapes[:2]))]
    if op == "Transpose":
        perm = node.attr("perm") or list(reversed(range(len(first))))
        return [tuple(first[p] for p in perm)]
    if op == "MatMul":
        a, b = shapes[0], shapes[1]
        if len(a) < 2 or len(b) < 2 or a[-1] != b[-2]:
            raise Unsupported(f"a product of {list(a)} by {list(b)}")
        return [(*np.broadcast_shapes(a[:-2], b[:-2]), a[-2], b[-1])]
    if op == "Gemm":
        a, b = shapes[0], shapes[1]
        m = a[1] if node.attr("transA", 0) else a[0]
        n = b[0] if node.attr("transB", 0) else b[1]
        return [(m, n)]
    if op in ("Reshape", "Gather") and consts[1] is None:
        raise Unsupported(f"{op} by computed numbers")
    if op == "Reshape":
        return [_reshaped(first, [int(v) for v in consts[1].reshape(-1)])]
    if op == "Gather":
        axis = node.attr("axis", 0) % len(first)
        if consts[1].size and not (-first[axis] <= consts[1].min() <= consts[1].max()
                                   < first[axis]):
            raise Unsupported(f"a gather past the {first[axis]} entries of an axis")
        return [(*first[:axis], *consts[1].shape, *first[axis + 1:])]
    empty = np.broadcast_to(np.empty((), np.float32), first)  # a view: no numbers held
    try:
        if op in ("Unsqueeze", "Squeeze", "Slice", "Split"):
            return [tuple(out.shape) for out in FOLDS[op](node, [empty, *consts[1:]])]
    except (ValueError, IndexError, TypeError) as exc:
        raise Unsupported(f"{op} on {list(first)}: {exc}") from None
    raise Unsupported(f"{op} inside attention")


def _reshaped(shape: Full, target: list[int]) -> Full:
    """ONNX Reshape's output shape: 0 copies the input's axis, -1 takes what is left."""
    dims = [shape[i] if d == 0 else d for i, d in enumerate(target)]
    size = int(np.prod(shape))
    if -1 in dims:
        known = int(np.prod([d for d in dims if d != -1]))
        dims[dims.index(-1)] = size // known if known else 0
    if int(np.prod(dims)) != size:
        raise Unsupported(f"a reshape of {list(shape)} to {target}")
    return tuple(dims)


def _weights(walk: Walk, region: Region, d: int) -> dict[str, tuple[str, str]]:
    """The four weights under nn.MultiheadAttention's names, as torch holds them."""
    weights: dict[str, tuple[str, str]] = {}
    for prefix, nodes, rows in (("in_proj_", region.in_proj, 3 * d),
                                ("out_proj.", region.out_proj, d)):
        proj = nodes[0]
        dims = tuple(walk.model.graph.initializers[proj.inputs[1]].dims)
        transposed = proj.op == "Gemm" and bool(proj.attr("transB", 0))
        if dims != ((rows, d) if transposed else (d, rows)):
            raise Unsupported(f"a projection weight of {list(dims)}")
        weights[prefix + "weight"] = (proj.inputs[1], "" if transposed else "T")
        bias = proj.inputs[2] if proj.op == "Gemm" and len(proj.inputs) > 2 else \
            next((i for i in nodes[1].inputs if i in walk.model.graph.initializers), "") \
            if len(nodes) > 1 else ""
        if bias:
            weights[prefix + "bias"] = (bias, "")
    if len(weights) == 3:
        raise Unsupported("one projection has a bias and the other none")
    return weights

