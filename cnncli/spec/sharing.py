"""`shares: NAME`: a layer that uses an earlier layer's weights, as a module called twice does
(a Siamese pair, a unit applied recurrently, an imported ONNX file whose initializer several
nodes read).

The name is looked up as `from:` looks up an output (this list, enclosing lists, dotted
names into composites). The two must be layers of one type that read as many channels and
agree on the arguments their weights' shapes depend on (`Layer.weight_args`); anything
else (stride, padding, dilation) may differ. The sharing layer's own parameter and buffer
counts are none: the weights are counted once, at their owner, and the model built from
the spec gives both modules the very same tensors.
"""

from __future__ import annotations

from typing import Any

from ..errors import SpecError
from ..layers import REGISTRY, Layer, Shape, shape_text
from . import graph
from .ir import LayerNode
from .yamlsrc import YMap


def owner_of(args: YMap, layer: Layer, shape: Shape, tensors: Any, ahead: Any,
             path: str) -> LayerNode:
    """The layer whose weights an entry's `shares:` names, checked to fit `layer` on an
    input of `shape`; a located error otherwise."""
    where = args.mark_of("shares")
    raw = args["shares"]
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise SpecError(f"shares: takes the name of an earlier layer, got {raw!r}", where, path)
    if layer.weight_args is None:
        raise SpecError(f"shares: {layer.name} has no weights to share (the layers that have: "
                        f"{', '.join(sharing_types())})", where, path)
    node = graph.lookup(str(raw), tensors, ahead, where, path, key="shares")
    if not isinstance(node, LayerNode):
        what = getattr(node, "kind", "the network's input")
        raise SpecError(f"shares: {raw!r} is a {what}, not a layer; name the layer whose "
                        "weights this one uses", where, path)
    if node.owner is not None:
        raise SpecError(f"shares: {raw!r} uses {node.owner.path}'s weights itself; name "
                        f"{node.owner.path} (the layer that owns them)", where, path)
    mismatch = _mismatch(node, layer, shape)
    if mismatch:
        raise SpecError(f"shares: {layer.name} cannot use {node.path}'s weights: {mismatch}",
                        where, path)
    return node


def _mismatch(owner: LayerNode, layer: Layer, shape: Shape) -> str:
    """Why `layer` on `shape` cannot have `owner`'s weights ("" if it can)."""
    theirs = owner.layer
    if type(theirs) is not type(layer):
        return f"it is a {theirs.name}, this is a {layer.name}"
    if layer.weights_follow_axes and len(owner.input) != len(shape):
        return (f"its input has {len(owner.input)} axes, this one's {len(shape)} (input "
                f"{shape_text(shape)}), and the weights' shape follows them")
    if owner.input[0] != shape[0]:
        return (f"it reads {owner.input[0]} input channels, this one {shape[0]} (input "
                f"{shape_text(shape)})")
    for name in layer.weight_args or ():
        here, there = getattr(layer, name), getattr(theirs, name)
        if here != there:
            return (f"{name} is {_shown(there)} there and {_shown(here)} here (the weights' "
                    f"shapes depend on {', '.join(layer.weight_args or ())})")
    return ""


def _shown(value: Any) -> str:
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        return shape_text(value)
    return "none" if value is None else str(value).lower() if isinstance(value, bool) \
        else str(value)


def sharing_types() -> list[str]:
    """The layer types that have weights to share."""
    return sorted({cls.name for cls in REGISTRY.values() if cls.weight_args is not None})
