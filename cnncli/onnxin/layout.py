"""Operators that move numbers rather than compute them: flatten and reshape, transposes to
and from channels-last, concat, split and slice along channels, resize and pad."""

from __future__ import annotations

import numpy as np

from . import partition, patterns
from .graph import Unsupported, Val, Walk
from .ops import const_input, map_input
from .proto import Node


def flatten(walk: Walk, node: Node) -> None:
    x = walk.val(node.inputs[0])
    if node.attr("axis", 1) != 1 or x.nhwc:
        raise Unsupported(f"flatten from axis {node.attr('axis', 1)} (cnncli's: after the "
                          "batch)")
    walk.values[node.outputs[0]] = x if len(x.shape) == 1 else \
        walk.add("flatten", {}, [x], node)


def reshape(walk: Walk, node: Node) -> None:
    if partition.take(walk, node):
        return
    x = walk.val(node.inputs[0])
    target = [int(d) for d in const_input(walk, node, 1).reshape(-1)]
    target = [(x.shape[i - 1] if i else walk.batch) if d == 0 and i <= len(x.shape) else d
              for i, d in enumerate(target)]
    if patterns.shuffle(walk, node, target):
        return
    size = int(np.prod(x.shape))
    if walk.batch == 1 and target in ([size], [-1]) and len(x.shape) > 1 and not x.nhwc:
        # the batch folded in too: only a Gather putting every number back (the dynamo
        # exporter's as_strided) can read this, see `gather`
        walk.values[node.outputs[0]] = Val(entry=x.entry, shape=x.shape, flat=True)
        return
    if x.nhwc or not target or target[0] not in (walk.batch, -1):
        raise Unsupported(f"a reshape to {target} that moves the batch axis or a "
                          "channels-last map")
    rest = target[1:]
    if -1 in rest:
        known = int(np.prod([d for d in rest if d != -1]))
        rest = [size // known if d == -1 else d for d in rest]
    if list(rest) == list(x.shape):
        walk.values[node.outputs[0]] = x
    elif rest == [size]:
        walk.values[node.outputs[0]] = walk.add("flatten", {}, [x], node)
    elif len(x.shape) == 3 and rest == [x.shape[0], x.shape[1] * x.shape[2]]:
        walk.values[node.outputs[0]] = walk.add("flatten", {"start": 1}, [x], node)
    else:
        raise Unsupported(f"a reshape of {list(x.shape)} to {rest} per sample")


def transpose(walk: Walk, node: Node) -> None:
    """(0, 2, 3, 1) lays a map out channels-last and (0, 3, 1, 2) back, (0, 2, 1) tokens
    D x L as (N, L, D) and back: the walk keeps the tensor as it is and remembers the
    layout, so ops on the last axis act on the channels. A weight read transposed (a
    position embedding added to tokens laid out as D x L) stays the weight."""
    if partition.take(walk, node):
        return
    x = walk.val(node.inputs[0])
    perm = list(node.attr("perm", []))
    if not x.is_act and x.weight is not None and len(x.shape) == len(perm):
        walk.values[node.outputs[0]] = Val(shape=tuple(x.shape[p] for p in perm),
                                           weight=x.weight)
    elif len(x.shape) == 2 and perm == [0, 2, 1]:
        walk.values[node.outputs[0]] = Val(entry=x.entry, shape=x.shape, nhwc=not x.nhwc)
    elif len(x.shape) == 3 and perm == [0, 2, 3, 1] and not x.nhwc:
        walk.values[node.outputs[0]] = Val(entry=x.entry, shape=x.shape, nhwc=True)
    elif len(x.shape) == 3 and perm == [0, 3, 1, 2] and x.nhwc:
        walk.values[node.outputs[0]] = Val(entry=x.entry, shape=x.shape, nhwc=False)
    else:
        raise Unsupported(f"a transpose {perm} of {list(x.shape)} per sample")


def concat(walk: Walk, node: Node) -> None:
    values = [walk.val(n) for n in node.inputs]
    if len(values) == 1:  # torch.cat of one tensor (DenseNet's first layer): the tensor
        walk.values[node.outputs[0]] = values[0]
        return
    if _class_token(walk, node, values):
        return
    if not all(v.is_act for v in values) or len({v.nhwc for v in values}) != 1:
        raise Unsupported("a concat of activations and constants")
    axis = node.attr("axis", 1) % (len(values[0].shape) + 1)
    if axis == 0:
        raise Unsupported("a concat along the batch axis")
    opts = {} if axis == 1 else {"axis": axis - 1}
    walk.values[node.outputs[0]] = walk.add("concat", opts, values, node)


def _class_token(walk: Walk, node: Node, values: list[Val]) -> bool:
    """A learned token (1, 1, D), the batch's copies of it, put before tokens laid out as
    (N, L, D): ViT's class token."""
    token, x = values if len(values) == 2 else (Val(), Val())
    axis = node.attr("axis", 1) % 3
    if token.is_act or token.weight is None or not x.is_act or not x.nhwc or \
            len(x.shape) != 2 or axis != 1 or \
            tuple(walk.model.graph.initializers[token.weight].dims) != (1, 1, x.shape[0]):
        return False
    walk.values[node.outputs[0]] = walk.add("class_token", {}, [x], node,
                                            {"class_token": (token.weight, "")})
    return True


def expand(walk: Walk, node: Node) -> None:
    """A weight's copies for each sample of the batch (ViT's class token): the weight."""
    x = walk.val(node.inputs[0])
    if x.is_act or x.weight is None or not x.shape or x.shape[0] != 1:
        raise Unsupported("an expand of an activation or a constant")
    walk.values[node.outputs[0]] = x


def split(walk: Walk, node: Node) -> None:
    x = walk.val(node.inputs[0])
    axis = node.attr("axis", 0) % (len(x.shape) + 1)
    if axis != 1 or x.nhwc:
        raise Unsupported(f"a split along axis {axis} (cnncli slices channels)")
    sizes = node.attr("split") or (
        [int(s) for s in const_input(walk, node, 1).reshape(-1)] if len(node.inputs) > 1
        and node.inputs[1] else None)
    if sizes is None:
        count = len(node.outputs)
        sizes = [x.shape[0] // count] * count
    start = 0
    for name, size in zip(node.outputs, sizes):
        walk.values[name] = walk.add("slice", {"start": start, "stop": start + size}, [x],
                                     node)
        start += size


def slice_(walk: Walk, node: Node) -> None:
    """A range of channels (`slice`), or of rows and columns that is a map's centre (`crop`:
    U-Net's skip connections)."""
    x = walk.val(node.inputs[0])
    starts, ends = const_input(walk, node, 1), const_input(walk, node, 2)
    axes = const_input(walk, node, 3) if len(node.inputs) > 3 else np.arange(len(starts))
    steps = const_input(walk, node, 4) if len(node.inputs) > 4 else np.ones(len(starts))
    rank = len(x.shape) + 1
    axes = [int(a) % rank for a in axes.reshape(-1)]
    if any(int(s) != 1 for s in steps.reshape(-1)) or x.nhwc or 0 in axes:
        raise Unsupported("a slice with steps, of the batch or of a channels-last map")
    kept = {}
    for axis, start, end in zip(axes, starts.reshape(-1), ends.reshape(-1)):
        size = x.shape[axis - 1]
        kept[axis] = tuple(int(np.clip(v if v >= 0 else v + size, 0, size))
                           for v in (int(start), int(min(end, 2**62))))
    if list(kept) == [1]:
        start, stop = kept[1]
        walk.values[node.outputs[0]] = walk.add("slice", {"start": start, "stop": stop}, [x],
                                                node)
        return
    if len(x.shape) == 3 and set(kept) <= {2, 3}:
        ranges = [kept.get(axis, (0, x.shape[axis - 1])) for axis in (2, 3)]
        size = [stop - start for start, stop in ranges]
        centred = all(start == (full - n) // 2 for (start, _), full, n in
                      zip(ranges, x.shape[1:], size))
        if centred and min(size) > 0:
            walk.values[node.outputs[0]] = walk.add("crop", {"size": size}, [x], node)
            return
    raise Unsupported(f"a slice of axes {axes} that is no channel range or centre crop")


def resize(walk: Walk, node: Node) -> None:
    x = walk.val(node.inputs[0])
    shape = map_input(x, "Resize")
    scales = const_input(walk, node, 2) if len(node.inputs) > 2 and node.inputs[2] else None
    sizes = const_input(walk, node, 3) if len(node.inputs) > 3 and node.inputs[3] else None
    if sizes is not None and sizes.size:
        out = [int(s) for s in sizes.reshape(-1)[-2:]]
    elif scales is not None and scales.size:
        out = [int(np.floor(d * s)) for d, s in zip(shape[1:], scales.reshape(-1)[-2:])]
    else:
        raise Unsupported("a resize with neither scales nor sizes")
    mode, how = node.attr("mode", "nearest"), node.attr("coordinate_transformation_mode",
                                                    "half_pixel")
    if mode == "nearest" and how == "asymmetric" and node.attr("nearest_mode",
                                                          "round_prefer_floor") == "floor":
        opts: dict = {"mode": "nearest"}
    elif mode == "linear" and how in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        opts = {"mode": "bilinear", "align_corners": how == "align_corners"}
    else:
        raise Unsupported(f"mode {mode!r} with coordinates {how!r} (torch's interpolate "
                          "modes: nearest, bilinear)")
    factor = out[0] // shape[1] if shape[1] else 0
    if out == [shape[1] * factor, shape[2] * factor] and factor > 1 and scales is not None \
            and scales.size:
        opts = {"scale": factor, **opts}
    else:
        opts = {"size": out if out[0] != out[1] else out[0], **opts}
    walk.values[node.outputs[0]] = walk.add("upsample", opts, [x], node)


def pad(walk: Walk, node: Node) -> None:
    x = walk.val(node.inputs[0])
    map_input(x, "Pad")
    pads = [int(p) for p in (node.attr("pads") or const_input(walk, node, 1).reshape(-1))]
    value = 0.0
    if len(node.inputs) > 2 and node.inputs[2]:
        value = float(const_input(walk, node, 2).reshape(-1)[0])
    if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0:
        raise Unsupported(f"pads {pads} (cnncli pads height and width)")
    modes = {"constant": "zeros", "reflect": "reflect", "edge": "replicate",
             "wrap": "circular"}
    mode = modes.get(node.attr("mode", "constant"))
    if mode is None:
        raise Unsupported(f"mode {node.attr('mode')!r}")
    opts: dict = {"padding": [pads[3], pads[7], pads[2], pads[6]]}
    if mode != "zeros":
        opts["mode"] = mode
    elif value:
        opts["value"] = value
    walk.values[node.outputs[0]] = walk.add("pad", opts, [x], node)


def gather(walk: Walk, node: Node) -> None:
    """A Gather that puts a flattened map's numbers back in their places: the map; one
    token of tokens (ViT's class token, for the classifier): `token`."""
    x = walk.val(node.inputs[0])
    indices = const_input(walk, node, 1)
    axis = node.attr("axis", 0)
    if x.is_act and len(x.shape) == 2 and indices.size == 1 and not indices.shape and \
            axis % 3 == (1 if x.nhwc else 2):
        index = int(indices) % x.shape[1]
        walk.values[node.outputs[0]] = walk.add("token", {"index": index}, [x], node)
        return
    size = int(np.prod(x.shape))
    if not x.flat or node.attr("axis", 0) != 0 or indices.shape[1:] != x.shape or \
            not np.array_equal(indices.reshape(-1), np.arange(size)):
        raise Unsupported("a gather of an activation (cnncli reads constant indices that "
                          "only undo a flatten)")
    walk.values[node.outputs[0]] = Val(entry=x.entry, shape=x.shape)
