"""Full shapes (batch axis included) through a run of nodes the walk's per-sample shapes
cannot follow: a transformer's attention, whose reshapes move the batch axis. Each node's
output shape by its operator's rule, shape arithmetic folded to constants on the way (within
the fold limit); nothing is computed on the tensors themselves."""

from __future__ import annotations

import numpy as np

from .fold import FOLD_LIMIT, FOLDS
from .graph import Unsupported, Val, Walk
from .proto import Node

Full = tuple[int, ...]


def full_shapes(walk: Walk, nodes: list[Node], first: str, start: Full,
                consts: dict[str, np.ndarray] | None = None) -> dict[str, Full]:
    """Every value's full shape among `nodes` (batch axis included) from `first`'s, shape
    arithmetic folded on the way (into `consts`, where given)."""
    shapes: dict[str, Full] = {first: start}
    consts = {} if consts is None else consts

    def const(name: str, depth: int = 0) -> np.ndarray | None:
        if name in consts or name in shapes:
            return consts.get(name)
        value = walk.values.get(name)
        if value is not None:
            return value.const
        node = walk.producers.get(name)  # shape arithmetic the walk has not reached yet
        if node is None or node.op not in FOLDS or depth > 64 or \
                any(id(node) == id(n) for n in nodes):
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

    for node in nodes:
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
    if op == "Split":
        axis = node.attr("axis", 0) % len(first)
        given = node.attr("split") or (consts[1].reshape(-1).tolist() if len(consts) > 1
                                       and consts[1] is not None else None)
        count = len(node.outputs)
        sizes = given or [first[axis] // count] * count
        if sum(sizes) != first[axis] or len(sizes) != count:
            raise Unsupported(f"a split of {first[axis]} into {sizes}")
        return [(*first[:axis], int(n), *first[axis + 1:]) for n in sizes]
    if op == "Einsum":
        return [_einsum(node, shapes)]
    if op == "Gemm":
        a, b = shapes[0], shapes[1]
        m = a[1] if node.attr("transA", 0) else a[0]
        n = b[0] if node.attr("transB", 0) else b[1]
        return [(m, n)]
    if op == "Concat":
        axis = node.attr("axis", 0) % len(first)
        if any(len(s) != len(first) for s in shapes):
            raise Unsupported("a concat of tensors of different ranks")
        return [(*first[:axis], sum(s[axis] for s in shapes), *first[axis + 1:])]
    if op == "Pad":
        pads = node.attr("pads") or (None if consts[1] is None else
                                     [int(p) for p in consts[1].reshape(-1)])
        if pads is None or len(pads) != 2 * len(first):
            raise Unsupported("a pad by computed numbers")
        rank = len(first)
        return [tuple(d + pads[i] + pads[i + rank] for i, d in enumerate(first))]
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
        if op in ("Unsqueeze", "Squeeze", "Slice"):
            return [tuple(out.shape) for out in FOLDS[op](node, [empty, *consts[1:]])]
    except (ValueError, IndexError, TypeError) as exc:
        raise Unsupported(f"{op} on {list(first)}: {exc}") from None
    raise Unsupported(f"{op} inside attention")


def _einsum(node: Node, shapes: list[Full]) -> Full:
    """An Einsum's output shape from its equation (explicit, without an ellipsis)."""
    equation = node.attr("equation", "")
    equation = equation.decode() if isinstance(equation, bytes) else str(equation)
    inputs, _, output = equation.replace(" ", "").partition("->")
    terms = inputs.split(",")
    if not output or "." in equation or len(terms) != len(shapes):
        raise Unsupported(f"an einsum {equation!r}")
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, shapes):
        if len(term) != len(shape):
            raise Unsupported(f"an einsum {equation!r} of {list(shape)}")
        for letter, size in zip(term, shape):
            if sizes.setdefault(letter, size) != size:
                raise Unsupported(f"an einsum {equation!r} of sizes that differ")
    return tuple(sizes[letter] for letter in output)


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


def between(walk: Walk, start: str, end: str) -> set[int]:
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
