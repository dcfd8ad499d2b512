"""The layer registry: spec names (and aliases) to layer classes; imports errors only.

base (arguments, costs, shape arithmetic shared by every type), one module per family of
types: conv, pool, norm, activation, dense (linear, flatten, dropout, rbf), regularize
(layer norm, layer scale, drop path, channel shuffle); modules (torch modules torch lacks,
imported only by the layers' build)."""

from __future__ import annotations

from .activation import (
    GELU,
    Hardsigmoid,
    Hardswish,
    LeakyReLU,
    ReLU,
    ReLU6,
    ScaledTanh,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
)
from .base import Arg, ArgError, Cost, Layer, Shape, ShapeError
from .conv import Conv
from .dense import Dropout, EuclideanRBF, Flatten, Linear
from .norm import BatchNorm, LocalResponseNorm
from .pool import AdaptiveAvgPool, AvgPool, GlobalAvgPool, MaxPool, Subsample
from .regularize import ChannelShuffle, DropPath, LayerNorm, LayerScale

LAYER_TYPES: tuple[type[Layer], ...] = (
    Conv, MaxPool, AvgPool, AdaptiveAvgPool, GlobalAvgPool, Subsample, BatchNorm,
    LocalResponseNorm, LayerNorm, ReLU, ReLU6, LeakyReLU, Tanh, ScaledTanh, Sigmoid, GELU, SiLU,
    Hardswish, Hardsigmoid, Softmax, Dropout, DropPath, LayerScale, ChannelShuffle, Flatten,
    Linear, EuclideanRBF,
)

REGISTRY: dict[str, type[Layer]] = {}
for _cls in LAYER_TYPES:
    for _name in (_cls.name, *_cls.aliases):
        REGISTRY[_name] = _cls

__all__ = ["REGISTRY", "LAYER_TYPES", "Arg", "ArgError", "Cost", "Layer", "Shape", "ShapeError"]
