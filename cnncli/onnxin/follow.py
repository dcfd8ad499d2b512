"""Follow an ONNX graph from its input, node by node, into entries (`graph.Walk`)."""

from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..layers import shape_text
from . import attention, detect, layout, lenet, merge, ops, patterns
from .fold import FOLD_LIMIT, FOLDS, constant
from .graph import INPUT, Unsupported, Val, Walk
from .proto import BadFile, Model, Node, ValueInfo
from .tensors import array

HANDLERS: dict[str, ops.Handler] = {
    "Conv": ops.conv, "ConvTranspose": ops.conv_transpose, "Gemm": ops.gemm,
    "MatMul": ops.matmul, "BatchNormalization": ops.batchnorm,
    "LayerNormalization": ops.layernorm, "LRN": ops.lrn,
    "MaxPool": ops.pool, "AveragePool": ops.pool, "GlobalAveragePool": ops.global_pool,
    "GlobalMaxPool": ops.global_pool, "ReduceMean": ops.reduce_mean,
    "Relu": ops.activation, "Tanh": ops.activation, "HardSwish": ops.activation,
    "Gelu": ops.activation, "Erf": ops.activation, "Sigmoid": ops.sigmoid,
    "HardSigmoid": ops.hardsigmoid, "LeakyRelu": ops.leaky_relu, "Clip": ops.clip,
    "Softmax": ops.softmax, "Identity": ops.same_as_input, "Dropout": ops.same_as_input,
    "Add": patterns.binary, "Mul": patterns.binary, "Sub": patterns.binary,
    "Div": patterns.binary,
    "Flatten": layout.flatten, "Reshape": layout.reshape, "Transpose": layout.transpose,
    "Concat": layout.concat, "Split": layout.split, "Slice": layout.slice_,
    "Resize": layout.resize, "Pad": layout.pad, "Gather": layout.gather,
    "Expand": layout.expand,
}


def network_input(model: Model, given: tuple[int, ...] | None) -> tuple[str, int, tuple]:
    """The graph's input (the first that is no initializer): name, batch, per-sample shape."""
    graph = model.graph
    inputs = [i for i in graph.inputs if i.name not in graph.initializers]
    if not inputs:
        raise BadFile("the graph has no input")
    first = inputs[0]
    dims = first.dims or []
    if given is not None:
        if dims and len(dims) - 1 != len(given):
            raise UsageError(f"--input {shape_text(given)} has {len(given)} axes; "
                             f"the file's input {first.name!r} has {len(dims) - 1} per sample")
        shape = given
    else:
        rest = dims[1:]
        if not dims or any(not isinstance(d, int) or d <= 0 for d in rest):
            shown = "x".join(str(d) for d in rest) or "no shape"
            raise UsageError(f"the file's input {first.name!r} is {shown} per sample (not "
                             "fixed): give --input, e.g. --input 3x224x224")
        shape = tuple(rest)
    batch = dims[0] if dims and isinstance(dims[0], int) and dims[0] > 0 else 1
    return first.name, batch, tuple(shape)


def follow(model: Model, given: tuple[int, ...] | None = None) -> tuple[Walk, tuple]:
    """Every node of `model` as entries; returns the walk and the input shape."""
    name, batch, shape = network_input(model, given)
    walk = Walk(model=model, batch=batch)
    walk.values[name] = Val(entry=INPUT, shape=shape)
    for init in model.graph.initializers:
        walk.values[init] = walk.initializer(init)
    nodes = ordered(model, set(walk.values))
    for node in nodes:  # constants first: a pattern looks ahead at the ones it reads
        if node.op == "Constant" and not node.domain:
            walk.values[node.outputs[0]] = Val(const=_constant(model, node))
            walk.done.add(id(node))
        for value in node.inputs:
            walk.consumers.setdefault(value, []).append(node)
        walk.producers.update((out, node) for out in node.outputs)
    decoding = detect.plan(walk)
    regions = attention.plan(walk, nodes)
    merges = merge.plan(walk, nodes)
    for node in nodes:
        if id(node) in regions and id(node) not in walk.done:
            attention.emit(walk, regions[id(node)])  # else its nodes, one by one
        if id(node) in merges and id(node) not in walk.done:
            merge.emit(walk, merges[id(node)])
        if id(node) not in walk.done:
            step(walk, node)
        if decoding and node is decoding.joins[-1]:
            if not detect.emit(walk, decoding, shape):  # then its nodes, one by one
                walk.done.difference_update(id(n) for n in decoding.nodes)
            decoding = None
    return walk, shape


def attention_products(model: Model) -> list[Node]:
    """The MatMul (and Einsum) nodes that multiply two values both computed from the
    network's input: a transformer's attention (queries by keys, weights by values). A
    CNN's MatMul has a weight on one side, whatever constant arithmetic made it."""
    graph = model.graph
    computed = {i.name for i in graph.inputs if i.name not in graph.initializers}
    found = []
    for node in ordered(model, {i.name for i in graph.inputs} | set(graph.initializers)):
        reads = [i for i in node.inputs if i in computed]
        if reads:
            computed.update(node.outputs)
        if node.op in ("MatMul", "Einsum") and len(node.inputs) == 2 and len(reads) == 2:
            found.append(node)
    return found


def ordered(model: Model, known: set[str]) -> list[Node]:
    """The nodes in an order where every input exists before it is read (the file's own
    order where it is one, as the ONNX standard asks)."""
    made = set(known) | {""}
    waiting = list(model.graph.nodes)
    order: list[Node] = []
    while waiting:
        later = []
        for node in waiting:
            if all(i in made for i in node.inputs):
                order.append(node)
                made.update(node.outputs)
            else:
                later.append(node)
        if len(later) == len(waiting):
            missing = next(i for i in later[0].inputs if i not in made)
            raise BadFile(f"node {later[0].name or later[0].op!r} reads {missing!r}, which "
                          "nothing gives (or the graph has a cycle)")
        waiting = later
    return order


def step(walk: Walk, node: Node) -> None:
    values = [walk.val(i) for i in node.inputs]
    if node.op == "Shape" and values and values[0].is_act:
        full = np.array([walk.batch, *values[0].shape], dtype=np.int64)
        start, end = node.attr("start", 0), node.attr("end", None)
        walk.values[node.outputs[0]] = Val(const=full[start:end])
        return
    if node.op == "Identity" and values and values[0].weight:  # the exporter's shared copy
        walk.values[node.outputs[0]] = values[0]  # of a weight: the weight, not a constant
        return
    expanded = node.op == "Expand" and values and values[0].weight  # a class token: a weight
    if values and all(v.const is not None for v in values if v.weight or not v.is_act) and \
            not any(v.is_act for v in values) and node.op in FOLDS and not expanded:
        _fold(walk, node, values)
        return
    handler = HANDLERS.get(node.op) if node.domain in ("", "ai.onnx") else None
    try:
        if lenet.take(walk, node):
            return
        if handler is None:
            raise Unsupported("an operator cnncli does not know")
        handler(walk, node)
    except Unsupported as exc:
        unpriced(walk, node, str(exc))


def _constant(model: Model, node: Node) -> np.ndarray:
    if "value" in node.attributes and node.attributes["value"].t is not None:
        return array(model, node.attributes["value"].t)
    found = constant(node)
    if found is None:
        raise BadFile(f"Constant node {node.name!r} has no value cnncli reads")
    return found


def _fold(walk: Walk, node: Node, values: list[Val]) -> None:
    consts = [v.const for v in values]
    value = node.attributes.get("value")
    if node.op == "ConstantOfShape" and value is not None and value.t is not None:
        consts.append(array(walk.model, value.t))  # its fill, in the file's raw bytes
    try:
        results = FOLDS[node.op](node, consts)
    except (ValueError, IndexError, TypeError, ZeroDivisionError) as exc:
        raise BadFile(f"node {node.name or node.op!r} ({node.op}) cannot be computed on its "
                      f"constant inputs: {exc}") from None
    for name, result in zip(node.outputs, results):
        if result.size > FOLD_LIMIT:
            raise BadFile(f"node {node.name!r} makes a constant of {result.size:,} numbers")
        walk.values[name] = Val(const=result)


def recorded_shape(walk: Walk, name: str) -> list | None:
    """A value's shape as the file records it, or as onnx's shape inference gives it where
    the file records none (when the onnx package is installed: the `onnx` extra)."""
    graph = walk.model.graph
    info = graph.value_info.get(name) or next((o for o in graph.outputs if o.name == name),
                                              None)
    if info is None and walk.inferred is None:
        walk.inferred = _inferred(walk.model)
    if info is None:
        info = walk.inferred.get(name)
    return info.dims if info else None


def _inferred(model: Model) -> dict:
    try:
        import onnx
    except ImportError:
        return {}
    try:
        proto = onnx.load(str(model.path), load_external_data=False)
        graph = onnx.shape_inference.infer_shapes(proto).graph
    except Exception:  # onnx's own checks refuse the file: no shapes from it  # noqa: BLE001
        return {}
    return {v.name: ValueInfo(v.name, v.type.tensor_type.elem_type,
                              [d.dim_value if d.HasField("dim_value") else "?"
                               for d in v.type.tensor_type.shape.dim])
            for v in graph.value_info}


def unpriced(walk: Walk, node: Node, reason: str) -> None:
    """The node as an onnx_op entry: its shape from the file, its work not counted."""
    inputs = [walk.val(i) for i in node.inputs if i and walk.val(i).is_act]
    for name in node.outputs:
        dims = recorded_shape(walk, name)
        if not dims or len(dims) < 2 or not all(isinstance(d, int) and d > 0
                                                 for d in dims[1:]):
            raise UsageError(f"node {node.name or node.op!r} ({node.op}): {reason}, and the "
                             "file records no shape for its output, so cnncli cannot follow "
                             "the graph past it")
        walk.values[name] = walk.add("onnx_op", {"op": node.op, "out": list(dims[1:])},
                                     inputs or [Val(entry=INPUT)], node,
                                     shape=tuple(dims[1:]))
        walk.entries[-1].note = reason
