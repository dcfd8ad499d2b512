"""Several ONNX nodes that are one cnncli layer: x·sigmoid(x) (SiLU), the erf form of GELU,
a bias Add after a MatMul, a channel shuffle's Reshape-Transpose-Reshape, a layer norm
written out below opset 17, and the binary elementwise ops between activations (joins) or
with a constant (a layer scale)."""

from __future__ import annotations

import math

import numpy as np

from .graph import Unsupported, Val, Walk
from .proto import Node


def other_input(node: Node, name: str) -> str:
    """The input of a two-input node that is not `name`."""
    a, b = node.inputs[:2]
    return b if a == name else a


def scalar_value(walk: Walk, name: str) -> float | None:
    """The one number value `name` holds, or None (an activation, a bigger constant)."""
    value = walk.values.get(name)
    if value is None or value.const is None or value.const.size != 1:
        return None
    return float(value.const.reshape(-1)[0])


def silu(walk: Walk, node: Node) -> bool:
    """Sigmoid(x) whose one consumer is Mul(x, ·): SiLU. Takes both nodes."""
    mul = walk.sole_consumer(node.outputs[0])
    x = node.inputs[0]
    if mul is None or mul.op != "Mul" or other_input(mul, node.outputs[0]) != x:
        return False
    walk.done.add(id(mul))
    walk.values[mul.outputs[0]] = walk.add("silu", {}, [walk.val(x)], node, nodes=[mul])
    return True


def gelu(walk: Walk, node: Node) -> bool:
    """x / √2 (or x · 1/√2) → Erf → + 1 → · x → · ½ (the last two in either order, or ½·x
    first): GELU. `node` is the Div or Mul by the constant."""
    x = next((n for n in node.inputs if walk.val(n).is_act), None)
    factor = scalar_value(walk, other_input(node, x)) if x else None
    if factor is None or not (math.isclose(factor, math.sqrt(2), rel_tol=1e-4) if
                              node.op == "Div" else math.isclose(factor, 1 / math.sqrt(2),
                                                                 rel_tol=1e-4)):
        return False
    erf = walk.sole_consumer(node.outputs[0])
    plus = erf and erf.op == "Erf" and walk.sole_consumer(erf.outputs[0])
    if not plus or plus.op != "Add" or \
            scalar_value(walk, other_input(plus, erf.outputs[0])) != 1.0:
        return False
    taken = [erf, plus]
    value, need = plus.outputs[0], {"x", "half"}
    while need:
        mul = walk.sole_consumer(value)
        if mul is None or mul.op != "Mul":
            return False
        other = other_input(mul, value)
        half = _half_of(walk, other, x)
        if other == x and "x" in need:
            need.discard("x")
        elif scalar_value(walk, other) == 0.5 and "half" in need:
            need.discard("half")
        elif half is not None and need == {"x", "half"}:
            taken.append(half)
            need.clear()
        else:
            return False
        taken.append(mul)
        value = mul.outputs[0]
    walk.done.update(id(n) for n in taken)
    walk.values[value] = walk.add("gelu", {}, [walk.val(x)], node, nodes=taken)
    return True


def _half_of(walk: Walk, name: str, x: str) -> Node | None:
    """The Mul node making `name` = x · ½, if that is what it is."""
    node = walk.producers.get(name)
    if node is not None and node.op == "Mul" and x in node.inputs and \
            scalar_value(walk, other_input(node, x)) == 0.5:
        return node
    return None


def bias_after(walk: Walk, node: Node, width: int) -> tuple[list[Node], str | None]:
    """An Add of a bias vector right after `node` (MatMul): the nodes taken, the bias."""
    add = walk.sole_consumer(node.outputs[0])
    if add is None or add.op != "Add":
        return [], None
    bias = walk.values.get(other_input(add, node.outputs[0]))
    if bias is None or bias.weight is None or tuple(bias.shape) != (width,):
        return [], None
    walk.done.add(id(add))
    return [add], bias.weight


def shuffle(walk: Walk, node: Node, target: list[int]) -> bool:
    """Reshape to [N, g, C/g, H, W], Transpose(0, 2, 1, 3, 4), Reshape back: channel_shuffle."""
    x = walk.val(node.inputs[0])
    if len(target) != 5 or len(x.shape) != 3 or target[1] * target[2] != x.shape[0]:
        return False
    transpose = walk.sole_consumer(node.outputs[0])
    if transpose is None or transpose.op != "Transpose" or \
            list(transpose.attr("perm", [])) != [0, 2, 1, 3, 4]:
        return False
    back = walk.sole_consumer(transpose.outputs[0])
    if back is None or back.op != "Reshape":
        return False
    walk.done.update({id(transpose), id(back)})
    walk.values[back.outputs[0]] = walk.add("channel_shuffle", {"groups": int(target[1])},
                                            [x], node, nodes=[transpose, back])
    return True


def lrn(walk: Walk, node: Node) -> bool:
    """x·x → (Unsqueeze or Reshape) → Pad → AveragePool over [size, 1, 1] → (Squeeze or
    Reshape) → · alpha → + k → ^ beta → x / that: torch's local response normalisation as
    the dynamo exporter writes it. `node` is the Mul of x by itself."""
    x = node.inputs[0]
    chain, value = [], node.outputs[0]
    for ops in (("Unsqueeze", "Reshape"), ("Pad",), ("AveragePool",), ("Squeeze", "Reshape"),
                ("Mul",), ("Add",), ("Pow",), ("Div",)):
        step = walk.sole_consumer(value)
        if step is None or step.op not in ops:
            return False
        chain.append(step)
        value = step.outputs[0]
    pool, scale, shift, power, div = chain[2], *chain[4:]
    kernel = list(pool.attr("kernel_shape", []))
    numbers = [scalar_value(walk, other_input(n, before.outputs[0]))
               for n, before in ((scale, chain[3]), (shift, scale), (power, shift))]
    if len(kernel) != 3 or kernel[1:] != [1, 1] or div.inputs[0] != x or \
            any(v is None for v in numbers):
        return False
    alpha, k, beta = numbers
    walk.done.update(id(n) for n in chain)
    opts = {"size": kernel[0], "alpha": float(f"{alpha:.6g}"), "beta": float(f"{beta:.6g}"),
            "k": float(f"{k:.6g}")}
    walk.values[value] = walk.add("lrn", opts, [walk.val(x)], node, nodes=chain)
    return True


def binary(walk: Walk, node: Node) -> None:
    """Add, Mul, Sub, Div with at least one activation."""
    if node.op in ("Div", "Mul") and gelu(walk, node):
        return
    if node.op == "Mul" and node.inputs[0] == node.inputs[1] and lrn(walk, node):
        return
    a, b = (walk.val(n) for n in node.inputs[:2])
    if a.is_act and b.is_act:
        _join(walk, node, a, b)
        return
    x, c = (a, b) if a.is_act else (b, a)
    how = _position(walk, x, c) if node.op == "Add" and len(x.shape) == 2 else None
    if how is not None:
        walk.values[node.outputs[0]] = walk.add("position_embedding", {}, [x], node,
                                                {"pos_embedding": (str(c.weight), how)})
        return
    if node.op == "Mul" and c.weight is not None and _scale_shape(x, c.shape):
        walk.values[node.outputs[0]] = walk.add("layer_scale", {}, [x], node,
                                                {"scale": (c.weight, "chw")})
        return
    what = "a constant" if c.const is not None else "a weight"
    raise Unsupported(f"{node.op} of an activation and {what} of shape {list(c.shape)}")


def _position(walk: Walk, x: Val, c: Val) -> str | None:
    """How a weight added to tokens D x L is a position embedding, torch's (1, L, D): as
    the file holds it (""), or held as (1, D, L) ("swap", an exporter's folded transpose);
    None where it is not one."""
    d, length = x.shape
    held = tuple(walk.model.graph.initializers[c.weight].dims) if c.weight else ()
    if tuple(c.shape) != ((1, length, d) if x.nhwc else (1, d, length)):
        return None
    return "" if held == (1, length, d) else "swap" if held == (1, d, length) else None


def _scale_shape(x: Val, shape: tuple[int, ...]) -> bool:
    """A factor per channel: [C] on a channels-last map, [C, 1, 1] (or with a batch axis)."""
    channels = x.shape[0]
    if x.nhwc:
        return tuple(shape) == (channels,)
    return tuple(shape) in ((channels, 1, 1), (1, channels, 1, 1))


def _join(walk: Walk, node: Node, a: Val, b: Val) -> None:
    if a.nhwc != b.nhwc:
        raise Unsupported("its inputs are laid out differently (one transposed)")
    if node.op == "Add" and a.shape == b.shape:
        walk.values[node.outputs[0]] = walk.add("add", {}, [a, b], node)
        return
    if node.op == "Mul":
        big, small = (a, b) if np.prod(a.shape) >= np.prod(b.shape) else (b, a)
        gate = len(big.shape) == 3 and small.shape == (big.shape[0], 1, 1)
        if small.shape == big.shape or gate:
            walk.values[node.outputs[0]] = walk.add("multiply", {}, [big, small], node)
            return
    raise Unsupported(f"{node.op} of activations shaped {list(a.shape)} and {list(b.shape)}")


def layer_norm(walk: Walk, node: Node) -> bool:
    """ReduceMean over the last axis, Sub, Pow 2, ReduceMean, Add ε, Sqrt, Div (then Mul by
    a weight, Add a bias): layer normalisation as exporters write it below opset 17, which
    has no LayerNormalization. `node` is the first ReduceMean. Takes every node."""
    x = walk.val(node.inputs[0])
    if not x.is_act or not _last_axis(walk, node, x):
        return False
    centre = walk.sole_consumer(node.outputs[0])
    if centre is None or centre.op != "Sub" or centre.inputs != [node.inputs[0], node.outputs[0]]:
        return False
    users = {n.op: n for n in walk.consumers.get(centre.outputs[0], [])}
    chain, value = [centre], centre.outputs[0]
    square = users.get("Pow")
    if len(users) != 2 or square is None or scalar_value(walk, square.inputs[1]) != 2.0:
        return False
    value, steps = square.outputs[0], [square]
    for ops in (("ReduceMean",), ("Add",), ("Sqrt",), ("Div",)):
        step = walk.sole_consumer(value)
        if step is None or step.op not in ops:
            return False
        steps.append(step)
        value = step.outputs[0]
    mean, add, _, div = steps[1:]
    eps = scalar_value(walk, other_input(add, mean.outputs[0]))
    if not _last_axis(walk, mean, x) or eps is None or div.inputs[0] != centre.outputs[0]:
        return False
    weights: dict[str, tuple[str, str]] = {}
    for param, op in (("weight", "Mul"), ("bias", "Add")):
        step = walk.sole_consumer(value)
        held = walk.values.get(other_input(step, value)) if step is not None and \
            step.op == op else None
        if held is None or held.weight is None or tuple(held.shape) != (x.shape[0],):
            break
        weights[param] = (held.weight, "")
        steps.append(step)
        value = step.outputs[0]
    if len(weights) == 1:
        return False  # a scale without a shift: not torch's layer norm
    walk.done.update(id(n) for n in [*chain, *steps])
    opts: dict = {} if math.isclose(eps, 1e-5, rel_tol=1e-3) else {"eps": float(f"{eps:.6g}")}
    if not weights:
        opts["affine"] = False
    walk.values[value] = walk.add("layer_norm", opts, [x], node, weights, [*chain, *steps])
    return True


def _last_axis(walk: Walk, node: Node, x: Val) -> bool:
    """A ReduceMean (keeping the axis) over the channels of a channels-last map or tokens,
    or the features of a vector: the file's last axis."""
    axes = node.attr("axes")
    if axes is None and len(node.inputs) > 1 and node.inputs[1]:
        value = walk.values.get(node.inputs[1])
        axes = None if value is None or value.const is None else value.const.reshape(-1).tolist()
    rank = len(x.shape) + 1
    return axes is not None and [int(a) % rank for a in axes] == [rank - 1] and \
        node.attr("keepdims", 1) == 1 and (x.nhwc or len(x.shape) == 1)

