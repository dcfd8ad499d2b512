"""ONNX operators as cnncli entries, one small function per operator (or family).

A handler reads its node's inputs from the walk, adds the entry (or entries) it stands for,
and sets its outputs' values; it raises Unsupported for a form cnncli does not express (the
walk then records the node as an unpriced `onnx_op`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import patterns
from .graph import Unsupported, Val, Walk
from .proto import Node

Handler = Callable[[Walk, Node], None]


def acts(walk: Walk, node: Node) -> list[Val]:
    return [walk.val(name) for name in node.inputs]


def const_input(walk: Walk, node: Node, at: int) -> np.ndarray | None:
    if len(node.inputs) <= at or not node.inputs[at]:
        return None
    value = walk.val(node.inputs[at])
    if value.const is None:
        raise Unsupported(f"input {at + 1} is computed, not a constant")
    return value.const


def map_input(x: Val, name: str) -> tuple[int, ...]:
    if len(x.shape) != 3 or x.nhwc:
        raise Unsupported(f"{name} on a {len(x.shape) + 1}-D tensor (cnncli's layers take "
                          "2-D maps)")
    return x.shape


def window(node: Node, kernel: tuple[int, ...], shape: tuple[int, ...]) -> dict[str, Any]:
    """kernel, stride, padding and dilation of a Conv or pool, from its attributes; the
    auto_pad forms become explicit padding. Uneven padding is not expressed."""
    strides = tuple(node.attr("strides", [1, 1]))
    dilations = tuple(node.attr("dilations", [1, 1]))
    pads = list(node.attr("pads", [0, 0, 0, 0]))
    auto = node.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in zip(shape[1:], kernel, strides, dilations):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads.append(total)
        if any(p % 2 for p in pads):
            raise Unsupported(f"auto_pad {auto} pads unevenly ({pads})")
        pads = [p // 2 for p in pads] * 2
    if len(kernel) != 2 or pads[:2] != pads[2:]:
        raise Unsupported(f"padding {pads} differs between sides" if len(kernel) == 2 else
                          f"a {len(kernel)}-D window")
    return {"kernel": list(kernel), "stride": list(strides), "padding": list(pads[:2]),
            "dilation": list(dilations)}


def conv(walk: Walk, node: Node) -> None:
    x, w = walk.val(node.inputs[0]), walk.val(node.inputs[1])
    shape = map_input(x, "Conv")
    if w.weight is None or len(w.shape) != 4:
        raise Unsupported("its weight is computed, or not 4-D")
    opts = {"out": w.shape[0], **window(node, w.shape[2:], shape)}
    groups = node.attr("group", 1)
    if groups != 1:
        opts["groups"] = groups
    weights = {"weight": (w.weight, "")}
    has_bias = len(node.inputs) > 2 and bool(node.inputs[2])
    if has_bias:
        weights["bias"] = (walk.val(node.inputs[2]).weight or "", "")
    opts["bias"] = has_bias
    walk.values[node.outputs[0]] = walk.add("conv", tidy(opts), [x], node, weights)


def conv_transpose(walk: Walk, node: Node) -> None:
    x, w = walk.val(node.inputs[0]), walk.val(node.inputs[1])
    shape = map_input(x, "ConvTranspose")
    groups = node.attr("group", 1)
    if w.weight is None or len(w.shape) != 4 or node.attr("output_shape"):
        raise Unsupported("its weight is computed or it gives output_shape")
    opts = {"out": w.shape[1] * groups, **window(node, w.shape[2:], shape)}
    padding = node.attr("output_padding", [0, 0])
    if any(padding):
        opts["output_padding"] = list(padding)
    if groups != 1:
        opts["groups"] = groups
    weights = {"weight": (w.weight, "")}
    opts["bias"] = len(node.inputs) > 2 and bool(node.inputs[2])
    if opts["bias"]:
        weights["bias"] = (walk.val(node.inputs[2]).weight or "", "")
    walk.values[node.outputs[0]] = walk.add("conv_transpose", tidy(opts), [x], node, weights)


def tidy(opts: dict[str, Any]) -> dict[str, Any]:
    """Options as a person writes them: a square pair as one number, defaults left out."""
    out: dict[str, Any] = {}
    for key, value in opts.items():
        if isinstance(value, list) and len(value) == 2 and value[0] == value[1]:
            value = value[0]
        if (key, value) in (("padding", 0), ("dilation", 1)) or \
                (key, value) == ("stride", 1) and "out" in opts:  # a pool's is its kernel
            continue
        out[key] = value
    return out


def gemm(walk: Walk, node: Node) -> None:
    x, w = walk.val(node.inputs[0]), walk.val(node.inputs[1])
    if node.attr("transA", 0) or node.attr("alpha", 1.0) != 1.0 or \
            node.attr("beta", 1.0) != 1.0 or w.weight is None or len(x.shape) != 1:
        raise Unsupported("only y = x·Wᵀ + b on a vector (transA 0, alpha and beta 1)")
    trans = node.attr("transB", 0)
    out = w.shape[0] if trans else w.shape[1]
    weights = {"weight": (w.weight, "" if trans else "T")}
    bias = len(node.inputs) > 2 and bool(node.inputs[2])
    if bias:
        weights["bias"] = (walk.val(node.inputs[2]).weight or "", "")
    walk.values[node.outputs[0]] = walk.add("linear", {"out": out, "bias": bias}, [x], node,
                                            weights)


def matmul(walk: Walk, node: Node) -> None:
    """x·W with W a weight: a linear layer, on a vector or at each position of a
    channels-last map; a following Add of a bias vector joins it."""
    x, w = walk.val(node.inputs[0]), walk.val(node.inputs[1])
    if x.is_act and w.is_act:
        raise Unsupported("an activation times an activation (attention's queries by keys, "
                          "or its weights by values) outside the multi-head self-attention "
                          "cnncli reads")
    if not x.is_act or w.weight is None or len(w.shape) != 2 or \
            (len(x.shape) != 1 and not x.nhwc):
        raise Unsupported("only an activation times a weight matrix, on a vector or the "
                          "channels of a channels-last map")
    weights = {"weight": (w.weight, "T")}
    taken, bias = patterns.bias_after(walk, node, w.shape[1])
    if bias:
        weights["bias"] = (bias, "")
    opts = {"out": w.shape[1], "bias": bool(bias)}
    if len(x.shape) != 1:
        opts["pointwise"] = True
    out = walk.add("linear", opts, [x], node, weights, taken)
    walk.values[(taken[-1] if taken else node).outputs[0]] = out


def batchnorm(walk: Walk, node: Node) -> None:
    x = walk.val(node.inputs[0])
    names = [walk.val(n).weight or "" for n in node.inputs[1:5]]
    weights = dict(zip(("weight", "bias", "running_mean", "running_var"),
                       ((n, "") for n in names)))
    opts = {} if node.attr("epsilon", 1e-5) == _f32(1e-5) else \
        {"eps": float(f"{node.attr('epsilon'):.6g}")}
    walk.values[node.outputs[0]] = walk.add("batchnorm", opts, [x], node, weights)


def layernorm(walk: Walk, node: Node) -> None:
    x = walk.val(node.inputs[0])
    axis = node.attr("axis", -1)
    if not (axis in (-1, len(x.shape)) and (x.nhwc or len(x.shape) == 1)):
        raise Unsupported(f"normalises over axis {axis} (cnncli's layer_norm: the channels)")
    weights = {"weight": (walk.val(node.inputs[1]).weight or "", "")}
    if len(node.inputs) > 2 and node.inputs[2]:
        weights["bias"] = (walk.val(node.inputs[2]).weight or "", "")
    opts = {} if node.attr("epsilon", 1e-5) == _f32(1e-5) else \
        {"eps": float(f"{node.attr('epsilon'):.6g}")}
    out = walk.add("layer_norm", opts, [x], node, weights)
    walk.values[node.outputs[0]] = out


def _f32(value: float) -> float:
    return float(np.float32(value))


def pool(walk: Walk, node: Node) -> None:
    x = walk.val(node.inputs[0])
    shape = map_input(x, node.op)
    opts = window(node, tuple(node.attr("kernel_shape")), shape)
    if node.attr("ceil_mode", 0):
        opts["ceil_mode"] = True
    if node.op == "AveragePool":
        opts.pop("dilation")
        opts["count_include_pad"] = bool(node.attr("count_include_pad", 0))
    if opts["stride"] == opts["kernel"]:
        del opts["stride"]  # a pool's stride is its kernel unless said
    kind = "maxpool" if node.op == "MaxPool" else "avgpool"
    walk.values[node.outputs[0]] = walk.add(kind, tidy(opts), [x], node)


def global_pool(walk: Walk, node: Node) -> None:
    x = walk.val(node.inputs[0])
    shape = map_input(x, node.op)
    if node.op == "GlobalMaxPool":
        out = walk.add("maxpool", {"kernel": list(shape[1:])}, [x], node)
    else:
        out = walk.add("global_avgpool", {}, [x], node)
    walk.values[node.outputs[0]] = out


def reduce_mean(walk: Walk, node: Node) -> None:
    if patterns.layer_norm(walk, node):
        return
    x = walk.val(node.inputs[0])
    axes = node.attr("axes") or [int(a) for a in const_input(walk, node, 1).reshape(-1)]
    if len(x.shape) != 3 or sorted(a % 4 for a in axes) != [2, 3] or x.nhwc:
        raise Unsupported(f"a mean over axes {axes} (cnncli's: the spatial ones)")
    out = walk.add("global_avgpool", {}, [x], node)
    if not node.attr("keepdims", 1):
        out = walk.add("flatten", {}, [out], node)
    walk.values[node.outputs[0]] = out


def same_as_input(walk: Walk, node: Node) -> None:
    walk.values[node.outputs[0]] = walk.val(node.inputs[0])


ACTIVATIONS = {"Relu": "relu", "Tanh": "tanh", "HardSwish": "hardswish", "Gelu": "gelu",
               "Erf": None}


def activation(walk: Walk, node: Node) -> None:
    kind = ACTIVATIONS.get(node.op)
    if kind is None:
        raise Unsupported("an Erf outside the GELU pattern x·½·(1 + erf(x/√2))")
    walk.values[node.outputs[0]] = walk.add(kind, {}, [walk.val(node.inputs[0])], node)


def sigmoid(walk: Walk, node: Node) -> None:
    if patterns.silu(walk, node):
        return
    walk.values[node.outputs[0]] = walk.add("sigmoid", {}, [walk.val(node.inputs[0])], node)


def hardsigmoid(walk: Walk, node: Node) -> None:
    if not (math.isclose(node.attr("alpha", 0.2), 1 / 6, rel_tol=1e-5)
            and math.isclose(node.attr("beta", 0.5), 0.5)):
        raise Unsupported("alpha and beta other than torch's 1/6 and 1/2")
    walk.values[node.outputs[0]] = walk.add("hardsigmoid", {}, [walk.val(node.inputs[0])],
                                            node)


def leaky_relu(walk: Walk, node: Node) -> None:
    slope = float(f"{node.attr('alpha', 0.01):.6g}")
    walk.values[node.outputs[0]] = walk.add("leaky_relu", {"negative_slope": slope},
                                            [walk.val(node.inputs[0])], node)


def clip(walk: Walk, node: Node) -> None:
    low = const_input(walk, node, 1) if len(node.inputs) > 1 else node.attr("min")
    high = const_input(walk, node, 2) if len(node.inputs) > 2 else node.attr("max")
    bounds = (None if low is None else float(low), None if high is None else float(high))
    kinds = {(0.0, 6.0): "relu6", (0.0, None): "relu"}
    if bounds not in kinds:
        raise Unsupported(f"bounds {bounds} (cnncli has relu and relu6)")
    walk.values[node.outputs[0]] = walk.add(kinds[bounds], {}, [walk.val(node.inputs[0])],
                                            node)


def softmax(walk: Walk, node: Node) -> None:
    x = walk.val(node.inputs[0])
    axis = node.attr("axis", -1)
    if axis % (len(x.shape) + 1) != 1 or x.nhwc:
        raise Unsupported(f"softmax over axis {axis} (cnncli's: the channels)")
    walk.values[node.outputs[0]] = walk.add("softmax", {}, [x], node)


def lrn(walk: Walk, node: Node) -> None:
    """LocalResponseNormalization (AlexNet's), as the TorchScript exporter writes it."""
    opts = {"size": node.attr("size"), "alpha": float(f"{node.attr('alpha', 1e-4):.6g}"),
            "beta": float(f"{node.attr('beta', 0.75):.6g}"),
            "k": float(f"{node.attr('bias', 1.0):.6g}")}
    walk.values[node.outputs[0]] = walk.add("lrn", opts, [walk.val(node.inputs[0])], node)
