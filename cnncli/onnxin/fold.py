"""Constant folding: the Shape, Gather, Concat, Unsqueeze ... chains exporters write to
compute a reshape's target or a resize's size. With a static input shape every such chain is
a constant; numpy evaluates it, so the graph that remains is the network's own work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .proto import DTYPES, Node

Fold = Callable[[Node, list[np.ndarray]], list[np.ndarray]]


def _axes(node: Node, inputs: list[np.ndarray], at: int) -> list[int] | None:
    if len(inputs) > at and inputs[at] is not None and inputs[at].size:
        return [int(a) for a in inputs[at].reshape(-1)]
    return node.attr("axes")


def _gather(node: Node, x: list[np.ndarray]) -> list[np.ndarray]:
    return [np.take(x[0], x[1].astype(np.int64), axis=node.attr("axis", 0))]


def _unsqueeze(node: Node, x: list[np.ndarray]) -> list[np.ndarray]:
    out = x[0]
    axes = _axes(node, x, 1) or []
    rank = out.ndim + len(axes)
    for axis in sorted(a % rank for a in axes):
        out = np.expand_dims(out, axis)
    return [out]


def _squeeze(node: Node, x: list[np.ndarray]) -> list[np.ndarray]:
    axes = _axes(node, x, 1)
    return [np.squeeze(x[0], axis=tuple(axes) if axes else None)]


def _slice(node: Node, x: list[np.ndarray]) -> list[np.ndarray]:
    data, starts, ends = x[0], x[1].reshape(-1), x[2].reshape(-1)
    axes = x[3].reshape(-1) if len(x) > 3 and x[3] is not None else range(len(starts))
    steps = x[4].reshape(-1) if len(x) > 4 and x[4] is not None else [1] * len(starts)
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        index[int(axis)] = slice(int(start), int(max(min(end, 2**62), -2**62)), int(step))
    return [data[tuple(index)]]


def _cast(node: Node, x: list[np.ndarray]) -> list[np.ndarray]:
    to = node.attr("to", 1)
    return [x[0].astype(DTYPES.get(to, ("float32", 4))[0])]


#: how many numbers a folded constant may hold: shape arithmetic is small, and a file must not
#: make cnncli allocate gigabytes
FOLD_LIMIT = 1_000_000


def _sized(shape: np.ndarray) -> list[int]:
    """A shape a constant is made with, checked before anything is allocated."""
    dims = [int(d) for d in np.asarray(shape).reshape(-1)]
    if any(d < 0 for d in dims) or int(np.prod(dims, dtype=object)) > FOLD_LIMIT:
        raise ValueError(f"a constant of shape {dims} (at most {FOLD_LIMIT:,} numbers)")
    return dims


def _constant_of_shape(node: Node, x: list[np.ndarray]) -> list[np.ndarray]:
    """x[1], where given, is the `value` attribute's one number (its type too); ONNX's
    default is a float 0."""
    fill = x[1].reshape(-1)[0] if len(x) > 1 else np.float32(0)
    return [np.full(_sized(x[0]), fill, dtype=fill.dtype)]


def _range(node: Node, x: list[np.ndarray]) -> list[np.ndarray]:
    start, limit, delta = (float(v) for v in x)
    if delta == 0 or (limit - start) / delta > FOLD_LIMIT:
        raise ValueError(f"a range of {start} to {limit} by {delta}")
    return [np.arange(x[0], x[1], x[2])]


def _binary(op: Callable[[Any, Any], Any]) -> Fold:
    return lambda node, x: [np.asarray(op(x[0], x[1]))]


def _div(node: Node, x: list[np.ndarray]) -> list[np.ndarray]:
    a, b = x
    if np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer):
        return [np.asarray(np.trunc(a / b).astype(a.dtype))]  # ONNX's integer division
    return [np.asarray(a / b)]


def _mod(node: Node, x: list[np.ndarray]) -> list[np.ndarray]:
    """ONNX's Mod: the divisor's sign (Python's %), or the dividend's with fmod=1."""
    return [np.asarray((np.fmod if node.attr("fmod", 0) else np.mod)(x[0], x[1]))]


def _scatter_nd(node: Node, x: list[np.ndarray]) -> list[np.ndarray]:
    """ONNX's ScatterND without reduction: updates written at the index tuples."""
    data, indices, updates = np.array(x[0]), x[1].astype(np.int64), x[2]
    for index, update in zip(indices.reshape(-1, indices.shape[-1]),
                             updates.reshape(-1, *data.shape[indices.shape[-1]:])):
        data[tuple(index)] = update
    return [data]


def _reshape(node: Node, x: list[np.ndarray]) -> list[np.ndarray]:
    shape = [int(d) for d in x[1].reshape(-1)]
    shape = [x[0].shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return [x[0].reshape(shape)]


FOLDS: dict[str, Fold] = {
    "Gather": _gather,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Slice": _slice,
    "Cast": _cast,
    "Concat": lambda node, x: [np.concatenate([np.atleast_1d(a) for a in x],
                                              axis=node.attr("axis", 0))],
    "ConstantOfShape": _constant_of_shape,
    "Add": _binary(np.add),
    "Sub": _binary(np.subtract),
    "Mul": _binary(np.multiply),
    "Div": _div,
    "Mod": _mod,
    "Shape": lambda node, x: [np.array(np.shape(x[0]), dtype=np.int64)[
        node.attr("start", 0):node.attr("end", None)]],
    "Pow": _binary(np.power),
    "Not": lambda node, x: [np.logical_not(x[0])],
    "ScatterND": _scatter_nd,
    "Floor": lambda node, x: [np.floor(x[0])],
    "Ceil": lambda node, x: [np.ceil(x[0])],
    "Sqrt": lambda node, x: [np.sqrt(x[0])],
    "Neg": lambda node, x: [np.negative(x[0])],
    "Equal": _binary(np.equal),
    "Where": lambda node, x: [np.where(x[0], x[1], x[2])],
    "Range": _range,
    "Reshape": _reshape,
    "Identity": lambda node, x: [x[0]],
    "Expand": lambda node, x: [x[0] * np.ones(_sized(x[1]), dtype=x[0].dtype)],
    "Transpose": lambda node, x: [np.transpose(x[0], node.attr("perm"))],
}


def constant(node: Node) -> np.ndarray | None:
    """A Constant node's value (its `value` tensor is read by the caller)."""
    for key, dtype in (("value_float", np.float32), ("value_int", np.int64),
                       ("value_floats", np.float32), ("value_ints", np.int64)):
        if key in node.attributes:
            return np.asarray(node.attributes[key].value(), dtype=dtype)
    return None
