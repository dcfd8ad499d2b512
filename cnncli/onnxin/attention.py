"""Multi-head self-attention in an ONNX graph, read as one entry: `attention` on tokens
(ViT), `window_attention` on a map (Swin), `partition_attention` on a map's partitions
(MaxViT).

Exporters write a transformer's attention as dozens of nodes: a q, k, v projection, the
reshapes and transposes that split it into heads (moving the batch axis, which the walk's
per-sample shapes cannot follow), the scaled product of queries by keys, a softmax, the
product by values, the heads gathered back and an output projection. `plan` finds each such
region before the walk, from its two products; `emit` follows the region's full shapes
(batch axis included, shape arithmetic folded) to read the heads (and windows), checks that
the region gives back its input's tokens and scales as the layer does, and adds the entry
with its weights. What does not fit stays nodes, which the walk then reports as it does any
graph it cannot follow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..layers.swin import WindowAttention
from .graph import Unsupported, Val, Walk, scope_of
from .proto import Node
from .shapes import Full, between, full_shapes

#: nodes between the projections and the products that only move, pick or scale numbers
BETWEEN = {"Transpose", "Reshape", "Unsqueeze", "Squeeze", "Gather", "Mul", "Div", "Slice",
           "Split", "Identity", "Dropout", "Cast"}
#: the products of activations by activations: q·kᵀ and the weights by v
PRODUCTS = ("MatMul", "Einsum")
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
    while qk is not None and qk.op in ("Mul", "Div", "Add", "Reshape"):  # scale, bias, mask
        qk = walk.producers.get(_data_input(walk, qk))
    if av is None or av.op not in PRODUCTS or qk is None or qk.op not in PRODUCTS:
        return None
    sources = [_projection(walk, name) for name in (*qk.inputs, av.inputs[1])]
    if None in sources or len({tuple(id(n) for n in s or ()) for s in sources}) != 1:
        return None  # q, k and v from one packed projection only
    in_proj = list(sources[0] or ())
    out_proj = _output_projection(walk, av)
    if out_proj is None:
        return None
    start, end = _start(walk, in_proj[0].inputs[0]), _end(walk, out_proj[-1].outputs[0])
    inside = between(walk, start, end)
    nodes = [n for n in order if id(n) in inside]
    for node in nodes:  # nothing inside may be read from outside
        for value in node.outputs:
            if value != end and any(id(c) not in inside for c in walk.consumers.get(value, [])):
                return None
    return Region(nodes, start, end, (qk, av), in_proj, out_proj)


def held(walk: Walk, name: str) -> str | None:
    """The initializer a value is, through the Identity nodes with which the TorchScript
    exporter shares equal initializers; None for a computed value."""
    while name not in walk.model.graph.initializers:
        node = walk.producers.get(name)
        if node is None or node.op != "Identity":
            return None
        name = node.inputs[0]
    return name


def _start(walk: Walk, value: str) -> str:
    """Back from the projection's input to the tokens or map the attention reads, through
    what only lays them out: transposes, and where Swin's pad to whole windows is on the way,
    its reshapes into windows, its roll and the pad itself (as long as nothing else reads the
    values on the way, but their shapes)."""
    first = value
    while value in walk.producers:
        node = walk.producers[value]
        rolled = _rolled(walk, node)
        if node.op in ("Transpose", "Reshape", "Pad"):
            source, chain = node.inputs[0], [node]
        elif rolled is not None:
            source, chain = rolled
        else:
            break
        users = [c for c in walk.consumers.get(source, []) if c.op != "Shape"]
        if {id(c) for c in users} != {id(c) for c in chain}:
            break
        value = source
        if node.op == "Pad":
            return value
    # no pad: back through transposes only (a reshape there is the map's flatten to tokens)
    value = first
    while value in walk.producers and walk.producers[value].op == "Transpose":
        value = walk.producers[value].inputs[0]
    return value


def _end(walk: Walk, value: str) -> str:
    """On from the output projection, through what lays the tokens out again: transposes,
    reshapes, Swin's roll back and its crop."""
    while True:
        users = [c for c in walk.consumers.get(value, []) if c.op != "Shape"]
        joined = walk.sole_consumer(users[0].outputs[0]) if users else None
        if len(users) == 1 and users[0].op in (*AFTER, "Slice"):
            value = users[0].outputs[0]
        elif len(users) == 2 and joined is not None and _rolled(walk, joined) is not None \
                and _rolled(walk, joined)[0] == value:  # type: ignore[index]
            value = joined.outputs[0]
        else:
            return value


def _rolled(walk: Walk, node: Node) -> tuple[str, list[Node]] | None:
    """A Concat of two Slices of one value (torch.roll as exporters write it): the value
    and the slices."""
    if node.op != "Concat" or len(node.inputs) != 2:
        return None
    parts = [walk.producers.get(i) for i in node.inputs]
    if any(p is None or p.op != "Slice" for p in parts) or \
            parts[0].inputs[0] != parts[1].inputs[0]:  # type: ignore[union-attr]
        return None
    return parts[0].inputs[0], parts  # type: ignore[union-attr, return-value]


def _data_input(walk: Walk, node: Node) -> str:
    """The input that carries the numbers moved or scaled: the first that is no constant
    or weight the walk knows already (a scale computed from shapes comes second)."""
    return next((i for i in node.inputs if i and i not in walk.values), node.inputs[0])


def _weight(walk: Walk, node: Node) -> bool:
    """A MatMul or Gemm of an activation by a weight (an initializer)."""
    return node.op in ("MatMul", "Gemm") and len(node.inputs) > 1 and \
        held(walk, node.inputs[1]) is not None


def _projection(walk: Walk, value: str) -> tuple[Node, ...] | None:
    """The projection a product's operand comes from, back through BETWEEN nodes: the
    MatMul or Gemm by a weight and its bias Add (if apart)."""
    node = walk.producers.get(value)
    bias: tuple[Node, ...] = ()
    while node is not None and node.op in BETWEEN:
        node = walk.producers.get(_data_input(walk, node))
    if node is not None and node.op == "Add":
        adds = [i for i in node.inputs if i in walk.producers and held(walk, i) is None]
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
            any(held(walk, i) is not None for i in add.inputs):
        found.append(add)
    return found


def emit(walk: Walk, region: Region) -> bool:
    """The region as one `attention` entry (on tokens) or `window_attention` entry (on a
    map); False (nothing changed) where it is not the attention cnncli builds."""
    x = walk.val(region.start)
    if not (x.is_act and len(x.shape) in (2, 3)):
        return False
    # the file's layouts of the tokens or map: channels last, or not (and, where the input is
    # MaxViT's partitions, (N, groups, size², C), as the output is unless it is the map back)
    laid = {_laid(walk.batch, x.shape, True): (True, None),
            _laid(walk.batch, x.shape, False): (False, None)}
    start = _laid(walk.batch, x.shape, x.nhwc)
    if x.parts:
        size = x.parts[0]
        start = (walk.batch, x.shape[1] * x.shape[2] // size ** 2, size ** 2, x.shape[0])
        laid[start] = (True, x.parts)
    consts: dict[str, np.ndarray] = {}
    try:
        shapes = full_shapes(walk, region.nodes, region.start, start, consts)
        if shapes[region.end] not in laid:
            return False  # not its tokens back (an exporter may transpose them back)
        read = _tokens if len(x.shape) == 2 else _partitions if x.parts else _windows
        kind, opts, weights = read(walk, region, x, shapes)
        head = shapes[region.products[0].inputs[0]][-1]
        want = x.shape[0] ** -0.5 if kind == "partition_attention" else head ** -0.5
        if not math.isclose(_scale(walk, region, shapes, consts), want, rel_tol=1e-4):
            return False  # scaled otherwise than the layer scales
    except (Unsupported, ValueError, IndexError, TypeError, ZeroDivisionError, KeyError):
        return False  # a shape or constant that does not work out: the nodes say where
    first, *rest = region.nodes
    out = walk.add(kind, opts, [x], first, weights, rest)
    walk.entries[-1].scope = _common_scope(region.nodes)
    nhwc, parts = laid[shapes[region.end]]
    walk.values[region.end] = Val(entry=out.entry, shape=out.shape, nhwc=nhwc, parts=parts)
    walk.done.update(id(n) for n in region.nodes)
    return True


def _common_scope(nodes: list[Node]) -> str:
    """The module all of a region's nodes were recorded in (the attention module: its
    projections are modules inside it); nodes recorded in none are left out."""
    common: list[str] | None = None
    for node in nodes:
        parts = [p for p in scope_of(node, None).split(".") if p]
        if not parts:
            continue
        if common is None:
            common = parts
        n = 0
        while n < min(len(common), len(parts)) and common[n] == parts[n]:
            n += 1
        common = common[:n]
    return ".".join(common or [])


def _laid(batch: int, shape: tuple[int, ...], nhwc: bool) -> Full:
    """A per-sample shape as the file holds the tensor: channels (features) last or not."""
    return (batch, *shape[1:], shape[0]) if nhwc else (batch, *shape)


Read = tuple[str, dict, dict[str, tuple[str, str]]]


def _tokens(walk: Walk, region: Region, x: Val, shapes: dict[str, Full]) -> Read:
    """ViT's attention: the heads from q's features."""
    d = x.shape[0]
    head = shapes[region.products[0].inputs[0]][-1]
    if d % head:
        raise Unsupported(f"{d} features in heads of {head}")
    weights = _weights(walk, region, d)
    opts: dict = {"heads": d // head}
    if "in_proj_bias" not in weights:
        opts["bias"] = False
    return "attention", opts, weights


def _windows(walk: Walk, region: Region, x: Val, shapes: dict[str, Full]) -> Read:
    """Swin's: the window from the scores, the heads from q, the shift from the roll, the
    padding and the windows' count checked against the layer's own rule."""
    shape = x.shape
    c = shape[0]
    qk = region.products[0]
    *_, area, head = shapes[qk.inputs[0]]
    window = int(round(area ** 0.5))
    rolls = [r for r in (_rolled(walk, n) for n in region.nodes) if r is not None]
    shift = int(np.asarray(walk.val(rolls[0][1][0].inputs[1]).const).reshape(-1)[0]) \
        if rolls else 0
    layer = WindowAttention.create(heads=c // head, window=window, shift=shift)
    ph, pw = layer.padded(shape)
    scores = (walk.batch * (ph // window) * (pw // window), c // head, area, area)
    if window * window != area or c % head or shapes[qk.outputs[0]] != scores or \
            layer.shifted(shape) != bool(rolls):
        raise Unsupported("windows that are not Swin's")
    return _relative(walk, region, "window_attention", ("qkv", "proj"), c, c // head, window,
                     {"window": window, "shift": shift})


def _partitions(walk: Walk, region: Region, x: Val, shapes: dict[str, Full]) -> Read:
    """MaxViT's: the partition from the walk, the heads from q (its scale, C^-1/2 on k as
    torchvision's, is checked by `emit`)."""
    c, (size, grid) = x.shape[0], x.parts  # type: ignore[misc]
    qk = region.products[0]
    head, area = shapes[qk.inputs[0]][-1], size * size
    if c % head or shapes[qk.outputs[0]][-2:] != (area, area):
        raise Unsupported("partitions that are not MaxViT's")
    return _relative(walk, region, "partition_attention", ("to_qkv", "merge"), c, c // head,
                     size, {"size": size, "grid": grid})


def _relative(walk: Walk, region: Region, kind: str, modules: tuple[str, str], c: int,
              heads: int, window: int, opts: dict) -> Read:
    """An attention with a relative position bias (Swin's, MaxViT's): its projections
    under the module's names, the bias table, the index the module makes itself."""
    names = {"in_proj_weight": f"{modules[0]}.weight", "in_proj_bias": f"{modules[0]}.bias",
             "out_proj.weight": f"{modules[1]}.weight", "out_proj.bias": f"{modules[1]}.bias"}
    weights = {names[k]: v for k, v in _weights(walk, region, c).items()}
    weights["relative_position_bias_table"] = _table(walk, region, heads, window)
    weights["relative_position_index"] = ("", "own")  # the module makes it
    opts = {"heads": heads, **opts}
    if f"{modules[0]}.bias" not in weights:
        opts["bias"] = False
    return kind, opts, weights


def _scale(walk: Walk, region: Region, shapes: dict[str, Full],
           consts: dict[str, np.ndarray]) -> float:
    """The product of the numbers the region multiplies its activations by (q, k or both:
    the attention's scale; a division counts inverted)."""
    scale = 1.0
    for node in region.nodes:
        acts = [i for i in node.inputs if i in shapes]
        if node.op not in ("Mul", "Div") or not acts:
            continue  # not a scale, or shape arithmetic
        other = next((i for i in node.inputs if i not in shapes), "")
        value = consts.get(other)
        if value is None and other in walk.values:
            value = walk.values[other].const
        if len(acts) != 1 or value is None or value.size != 1 or \
                node.op == "Div" and node.inputs[0] != acts[0]:
            raise Unsupported("a scale that is not one number")
        factor = float(value.reshape(-1)[0])
        scale *= factor if node.op == "Mul" else 1 / factor
    return scale


def _table(walk: Walk, region: Region, heads: int, window: int) -> tuple[str, str]:
    """The relative position bias: the table itself where the file gathers from it, or the
    bias the exporter computed from it (1, heads, w², w²), which gives the table back."""
    inits = walk.model.graph.initializers
    area = window * window
    for node in region.nodes:
        for name in filter(None, (held(walk, i) for i in node.inputs)):
            dims = tuple(inits[name].dims)
            if node.op == "Gather" and dims == ((2 * window - 1) ** 2, heads):
                return name, ""
            if node.op == "Add" and dims == (1, heads, area, area):
                return name, "swin_table"
    raise Unsupported("no relative position bias")


def _weights(walk: Walk, region: Region, d: int) -> dict[str, tuple[str, str]]:
    """The four weights under nn.MultiheadAttention's names, as torch holds them."""
    weights: dict[str, tuple[str, str]] = {}
    for prefix, nodes, rows in (("in_proj_", region.in_proj, 3 * d),
                                ("out_proj.", region.out_proj, d)):
        proj = nodes[0]
        weight = held(walk, proj.inputs[1]) or ""
        dims = tuple(walk.model.graph.initializers[weight].dims)
        transposed = proj.op == "Gemm" and bool(proj.attr("transB", 0))
        if dims != ((rows, d) if transposed else (d, rows)):
            raise Unsupported(f"a projection weight of {list(dims)}")
        weights[prefix + "weight"] = (weight, "" if transposed else "T")
        bias = held(walk, proj.inputs[2]) if proj.op == "Gemm" and len(proj.inputs) > 2 else \
            next(filter(None, (held(walk, i) for i in nodes[1].inputs)), "") \
            if len(nodes) > 1 else ""
        if bias:
            weights[prefix + "bias"] = (bias, "")
    if len(weights) == 3:
        raise Unsupported("one projection has a bias and the other none")
    return weights

