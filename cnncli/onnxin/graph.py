"""An ONNX graph followed node by node into cnncli entries: the state of the walk.

Every ONNX value is a `Val`: an activation (made by an entry, or the network's input), a
constant (numbers known here, folded through shape arithmetic), or a weight (an initializer
a layer reads as its parameter). Ops translate to entries (`ops`); an operator cnncli cannot
price or build becomes an `onnx_op` entry, so no figure is silently zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..layers import REGISTRY, ShapeError, shape_text
from .proto import BadFile, Model, Node
from .tensors import array, has_data

INPUT = -1
CONST_LIMIT = 4096  # initializers up to this many numbers are read as constants


class Unsupported(Exception):
    """This node (or pattern) is not one cnncli expresses; the message says what it is."""


@dataclass
class Val:
    """One ONNX value as the walk knows it. `shape` is per sample (no batch axis)."""

    entry: int | None = None  # the entry that makes it (INPUT: the network's input)
    shape: tuple[int, ...] = ()
    const: np.ndarray | None = None
    weight: str | None = None  # an initializer's name
    nhwc: bool = False  # an activation laid out channels-last by a Transpose
    flat: bool = False  # an activation viewed as one vector, batch included (batch 1)
    parts: tuple[int, bool] | None = None  # a map grouped into MaxViT's partitions: size, grid

    @property
    def is_act(self) -> bool:
        return self.entry is not None


@dataclass
class Entry:
    """One entry of the spec to be: a layer, a join or an onnx_op."""

    kind: str
    options: dict[str, Any]
    inputs: list[int]
    shape: tuple[int, ...]
    scope: str  # the module path the exporter recorded ("layer1.0.conv1"), or ""
    nodes: list[str]
    weights: dict[str, tuple[str, str]] = field(default_factory=dict)  # param: (init, how)
    note: str = ""  # why an onnx_op is one
    owner: int | None = None  # the entry whose very weights it reads (`shares:`)


@dataclass
class Walk:
    model: Model
    batch: int
    values: dict[str, Val] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    consumers: dict[str, list[Node]] = field(default_factory=dict)
    producers: dict[str, Node] = field(default_factory=dict)  # in the walk's order
    done: set[int] = field(default_factory=set)  # ids of nodes a pattern already took
    inferred: dict | None = None  # onnx's shape inference, run once where the file has none

    def val(self, name: str) -> Val:
        if name == "":
            return Val()
        if name not in self.values:
            raise BadFile(f"a node reads {name!r}, which no node, input or initializer "
                          "gives (nodes out of order?)")
        return self.values[name]

    def initializer(self, name: str) -> Val:
        tensor = self.model.graph.initializers[name]
        const = None
        if has_data(tensor) and tensor.size <= CONST_LIMIT and not tensor.external:
            const = array(self.model, tensor)
        return Val(shape=tensor.dims, const=const, weight=name)

    def sole_consumer(self, value: str) -> Node | None:
        users = self.consumers.get(value, [])
        outputs = {o.name for o in self.model.graph.outputs}
        return users[0] if len(users) == 1 and value not in outputs else None

    def add(self, kind: str, options: dict[str, Any], inputs: list[Val], node: Node,
            weights: dict[str, tuple[str, str]] | None = None, nodes: list[Node] = (),
            shape: tuple[int, ...] | None = None) -> Val:
        """A new entry reading `inputs`; its output shape from the layer's own rule."""
        if any(v.flat for v in inputs):
            raise Unsupported("it reads a map flattened with its batch axis")
        if shape is None:
            shape = self.shape_of(kind, options, [v.shape for v in inputs], node)
        entry = Entry(kind, options, [v.entry for v in inputs], shape, scope_of(node, weights),
                      [n.name for n in (node, *nodes)], weights or {})
        self.entries.append(entry)
        return Val(entry=len(self.entries) - 1, shape=shape,
                   nhwc=inputs[0].nhwc if inputs else False,
                   parts=inputs[0].parts if inputs and shape == inputs[0].shape else None)

    def shape_of(self, kind: str, options: dict[str, Any], shapes: list[tuple[int, ...]],
                 node: Node) -> tuple[int, ...]:
        if kind in ("add", "multiply"):
            return max(shapes, key=lambda s: int(np.prod(s)))
        if kind == "concat":
            axis = options.get("axis", 0)
            out = list(shapes[0])
            out[axis] = sum(s[axis] for s in shapes)
            return tuple(out)
        try:
            return tuple(REGISTRY[kind].create(**options).infer(shapes[0]).output)
        except ShapeError as exc:
            raise Unsupported(f"{kind} on {shape_text(shapes[0])}: {exc}") from None


def scope_of(node: Node, weights: dict[str, tuple[str, str]] | None) -> str:
    """The module path the exporter recorded for a node: the dynamo exporter's name scopes
    or the TorchScript exporter's node name (`/layer1/layer1.0/conv1/Conv`). Where those
    name a sibling (the dynamo exporter names a conv it folded a BatchNorm into after the
    BatchNorm) or nothing, the node's weight's dotted name (`layer1.0.conv1.weight`)."""
    scope = _recorded(node)
    for init, _ in (weights or {}).values():
        if init.endswith(".weight") and "::" not in init:
            owner = init.rsplit(".", 1)[0]
            if not scope or owner.rpartition(".")[0] == scope.rpartition(".")[0]:
                return owner
    return scope


def _recorded(node: Node) -> str:
    scopes = node.metadata.get("pkg.torch.onnx.name_scopes")
    if scopes:
        parts = [p.strip(" '\"") for p in scopes.strip("[]").split(",")]
        return _joined([p for p in parts[:-1] if p])
    if node.name.startswith("/"):
        # each part is a module's name within the part before it ("layer1.0", "conv1"),
        # except a Sequential's child, which repeats its parent's name ("layer1" then
        # "layer1.0", "downsample" then "downsample.0")
        names: list[str] = []
        for part in node.name.strip("/").split("/")[:-1]:
            if names and part.startswith(names[-1] + "."):
                names[-1] = part
            else:
                names.append(part)
        return ".".join(names)
    return ""


def _joined(parts: list[str]) -> str:
    """The dynamo exporter's scopes as one path: each is the module's whole path
    (`layer1`, `layer1.0`, `layer1.0.bn1`) or, for a module a loop called, its name within the
    one before (`model.0`, `conv`)."""
    path = ""
    for part in parts:
        path = part if not path or part.startswith(path + ".") else f"{path}.{part}"
    return path
