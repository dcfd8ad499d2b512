"""Elementwise activations and softmax: shape-preserving, no parameters."""

from __future__ import annotations

from typing import Any, ClassVar

from .base import Arg, Cost, Figure, Layer, Saved, Shape
from .window import elements


class Activation(Layer):
    """An activation applied to every element; `ops_per_element` is its counted work.

    Each one says which family it is for `init: auto` (`init_nonlinearity`): the
    rectifier-like ("relu", "leaky_relu") make it Kaiming; a network whose only ones are
    saturating ("tanh", "sigmoid") gets Xavier.
    """

    torch_name: ClassVar[str]
    ops_per_element: ClassVar[int] = 1
    work = "1 per element"
    #: which tensor the backward needs: "output" (relu, tanh, sigmoid, softmax) or "input"
    keeps: ClassVar[str] = "input"

    def infer(self, shape: Shape) -> Cost:
        return Cost(output=shape, other_ops=self.ops_per_element * elements(shape))

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        return self.elementwise(shape, cost, self.ops_per_element,
                                f"{self.work}: {self.summary}")

    def build(self, shape: Any) -> Any:
        from torch import nn

        return getattr(nn, self.torch_name)(**self.arg_values())

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """The derivative from the output (relu: y > 0, tanh: 1 − y², ...) or the input."""
        return [Saved(self.keeps, elements(shape))]


class ReLU(Activation):
    name, torch_name, summary = "relu", "ReLU", "max(0, x)"
    keeps, init_nonlinearity = "output", "relu"


class ReLU6(Activation):
    name, torch_name, summary = "relu6", "ReLU6", "min(max(0, x), 6)"
    init_nonlinearity = "relu"


class LeakyReLU(Activation):
    name, torch_name, summary = "leaky_relu", "LeakyReLU", "x if x > 0 else slope * x"
    init_nonlinearity = "leaky_relu"
    negative_slope: Arg[float] = Arg("float", 0.01, min=0)


class Tanh(Activation):
    name, torch_name, summary = "tanh", "Tanh", "hyperbolic tangent"
    keeps, init_nonlinearity, time_kind = "output", "tanh", "transcendental"


class ScaledTanh(Activation):
    name, aliases = "scaled_tanh", ("lecun_tanh",)
    summary = "amplitude * tanh(slope * x); LeCun's 1.7159 tanh(2x/3) by default"
    amplitude: Arg[float] = Arg("float", 1.7159, min=0)
    slope: Arg[float] = Arg("float", 2 / 3, min=0)
    ops_per_element = 3
    work = "3 per element: scale, tanh, scale"
    init_nonlinearity, time_kind = "tanh", "transcendental"

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """tanh's own output, before the amplitude scales it (the scalings keep nothing)."""
        return [Saved("tanh", elements(shape))]

    def build(self, shape: Any) -> Any:
        from .modules import ScaledTanh as Module

        return Module(self.amplitude, self.slope)


class Sigmoid(Activation):
    name, torch_name, summary = "sigmoid", "Sigmoid", "1 / (1 + exp(-x))"
    keeps, init_nonlinearity, time_kind = "output", "sigmoid", "transcendental"


class GELU(Activation):
    name, torch_name, summary = "gelu", "GELU", "Gaussian error linear unit"
    init_nonlinearity, time_kind = "relu", "transcendental"


class Hardswish(Activation):
    name, torch_name, summary = "hardswish", "Hardswish", "x * relu6(x + 3) / 6 (MobileNetV3)"
    aliases, init_nonlinearity = ("hard_swish",), "relu"


class Hardsigmoid(Activation):
    name, torch_name, summary = "hardsigmoid", "Hardsigmoid", "relu6(x + 3) / 6 (MobileNetV3)"
    aliases, init_nonlinearity = ("hard_sigmoid",), "sigmoid"


class SiLU(Activation):
    name, torch_name, aliases, summary = "silu", "SiLU", ("swish",), "x * sigmoid(x)"
    init_nonlinearity, time_kind = "relu", "transcendental"


class Softmax(Activation):
    name, torch_name, summary = "softmax", "Softmax", "softmax over channels (features)"
    ops_per_element = 3
    work = "3 per element: exp, sum, divide"
    keeps, time_kind = "output", "norm"
    autocast = "fp32"
    init_nonlinearity = ""  # the classifier's output, not a hidden layer's: it does not steer

    def infer(self, shape: Shape) -> Cost:
        # Each output reads every channel (feature) at its position.
        cost = super().infer(shape)
        return cost.replace(connections=elements(shape) * shape[0])

    def build(self, shape: Any) -> Any:
        from torch import nn

        return nn.Softmax(dim=1)  # dim 0 is the batch; 1 is channels or features

    def channels_last(self, shape: Shape, channels_last: bool) -> bool:
        return False  # torch's softmax writes a contiguous output whatever its input
