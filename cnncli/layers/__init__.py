"""The layer registry: spec names (and aliases) to layer classes; imports errors only.

base (the Layer class, its constructor and registry, costs), args (declared arguments and
their checks), window (the shape arithmetic conv and pooling share), one module per family
of types: conv, pool, norm, activation, dense (linear, flatten, dropout, rbf),
regularize (layer norm, layer scale, drop path, channel shuffle), tokens (a vision
transformer's class token, position embedding, attention and token pick), swin (the Swin
Transformer's shifted-window attention and patch merging), partition (MaxViT's block and
grid attention), transpose (transposed conv),
resize (upsample, pad, crop, slice), detect (YOLOv8's box decoding), foreign (an imported
ONNX operator cnncli cannot price); modules and modules_tokens (torch modules torch lacks,
imported only by the layers' build). A layer type registers itself when its class is
defined, so every module here but the `modules` ones is imported below, whatever its name.
"""

from __future__ import annotations

import importlib
import os

from .base import (
    REGISTRY,
    Arg,
    ArgError,
    Calls,
    Cost,
    Layer,
    OptionError,
    Shape,
    ShapeError,
    shape_text,
)

# every module of this folder, by name (os.listdir, not pkgutil: 0.4 ms less at start-up)
for _file in sorted(os.listdir(os.path.dirname(__file__))):
    if _file.endswith(".py") and _file != "__init__.py" and not _file.startswith("modules"):
        importlib.import_module(f"{__name__}.{_file.removesuffix('.py')}")

#: every layer type once, in the order their modules define them
LAYER_TYPES: tuple[type[Layer], ...] = tuple(dict.fromkeys(REGISTRY.values()))

__all__ = ["REGISTRY", "LAYER_TYPES", "Arg", "ArgError", "Calls", "Cost", "Layer",
           "OptionError", "Shape", "ShapeError", "shape_text"]
