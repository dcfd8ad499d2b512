"""The layer registry: spec names (and aliases) to layer classes; imports errors only.

base (the Layer class, its constructor and registry, costs), args (declared arguments and
their checks), window (the shape arithmetic conv and pooling share), one module per family
of types: conv, pool, norm, activation, dense (linear, flatten, dropout, rbf),
regularize (layer norm, layer scale, drop path, channel shuffle), transpose (transposed
conv), resize (upsample, pad, crop, slice), detect (YOLOv8's box decoding), foreign (an
imported ONNX operator cnncli cannot price); modules (torch modules torch lacks, imported
only by the layers' build). A layer type registers itself when its
class is defined, so every module here but `modules` is imported below, whatever its name.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import REGISTRY, Arg, ArgError, Cost, Layer, OptionError, Shape, ShapeError, shape_text

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "modules":  # torch code: only a layer's build() imports it
        importlib.import_module(f"{__name__}.{_module.name}")

#: every layer type once, in the order their modules define them
LAYER_TYPES: tuple[type[Layer], ...] = tuple(dict.fromkeys(REGISTRY.values()))

__all__ = ["REGISTRY", "LAYER_TYPES", "Arg", "ArgError", "Cost", "Layer", "OptionError",
           "Shape", "ShapeError", "shape_text"]
