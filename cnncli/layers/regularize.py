"""Layers modern CNNs add around their blocks: layer norm over channels, layer scale,
drop path (stochastic depth) and channel shuffle."""

from __future__ import annotations

from typing import Any

from .base import Arg, Cost, Figure, Layer, Layout, Saved, Shape, ShapeError, dot
from .dense import Dropout
from .window import elements, need_map


class LayerNorm(Layer):
    name = "layer_norm"
    aliases = ("layernorm", "ln")
    summary = ("layer normalisation over the channels at each position (ConvNeXt's "
               "LayerNorm2d) or token; over the features of a vector (torch.nn.LayerNorm)")
    work = "5 per element: mean, centre, variance, normalise, scale and shift"
    weight_args = ("affine",)
    time_kind = "norm"
    eps: Arg[float] = Arg("float", 1e-5, min=0)
    affine: Arg[bool] = Arg("bool", True)

    def infer(self, shape: Shape) -> Cost:
        c = shape[0]
        return Cost(output=shape, params=2 * c if self.affine else 0,
                    other_ops=5 * elements(shape), connections=c * elements(shape))

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        c = shape[0]
        return [Figure("params", f"2 · {c}" if self.affine else "0", cost.params,
                       "a scale and a shift per channel" if self.affine
                       else "affine: false learns nothing")] + \
            self.elementwise(shape, cost, 5, "the mean and variance over the channels at each "
                             "position, then normalise, scale and shift")

    def build(self, shape: Shape) -> Any:
        from torch import nn

        from .modules import LayerNorm2d

        kind = LayerNorm2d if len(shape) > 1 else nn.LayerNorm
        return kind(shape[0], eps=self.eps, elementwise_affine=self.affine)

    def channels_last(self, shape: Shape, channels_last: bool) -> bool:
        """On a map or tokens: the NHWC (N, L, D) result permuted back, so channels-last."""
        return len(shape) > 1

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """The input, and the mean and 1/std of each position (float32)."""
        positions = elements(shape) // shape[0]
        return [Saved("input", elements(shape)), Saved("stats", 2 * positions, "fp32")]


class LayerScale(Layer):
    name = "layer_scale"
    summary = "a learned factor per channel (ConvNeXt, CaiT), starting at `init`"
    work = "1 per element"
    weight_args = ()
    weights_follow_axes = True
    init: Arg[float] = Arg("float", 1e-6, doc="the factors' first value")

    def infer(self, shape: Shape) -> Cost:
        return Cost(output=shape, params=shape[0], other_ops=elements(shape))

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        return [Figure("params", str(shape[0]), cost.params, "one factor per channel")] + \
            self.elementwise(shape, cost, 1, "one multiply per element")

    def build(self, shape: Shape) -> Any:
        from .modules import LayerScale as Module

        return Module(shape, self.init)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """The factors' gradient needs the input; the input's needs only the factors."""
        return [Saved("input", elements(shape))] if trainable else []


class DropPath(Dropout):
    """Dropout of whole samples: shapes, counts and the view at p = 0 are dropout's."""

    name = "drop_path"
    aliases = ("stochastic_depth",)
    summary = ("in training, zeroes a whole sample's branch with probability p and scales "
               "the rest by 1/(1 - p); identity at inference")
    work = "none at inference"
    p: Arg[float] = Arg("float", 0.0, min=0, max=1, max_open=True)

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        return [Figure("other ops", "0", cost.other_ops,
                       f"drops a sample's whole path with probability {self.p} in training; "
                       "the identity at inference")]

    def build(self, shape: Shape) -> Any:
        from .modules import DropPath as Module

        return Module(self.p)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """One scaled keep-factor per sample (p = 0 is the identity and keeps nothing)."""
        return [Saved("mask", 1)] if self.p > 0 else []


class ChannelShuffle(Layer):
    name = "channel_shuffle"
    summary = "interleaves the channels of `groups` groups (ShuffleNet)"
    work = "none (a copy)"
    groups: Arg[int] = Arg("int", min=1, doc="channel groups to interleave")

    def infer(self, shape: Shape) -> Cost:
        c, _, _ = need_map(self.name, shape)
        if c % self.groups:
            raise ShapeError(f"{c} channels do not split into {self.groups} groups")
        return Cost(output=shape)

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        return [Figure("output channels", dot(self.groups, shape[0] // self.groups),
                       shape[0], "channel g·k + i moves to i·groups + g: a copy, no arithmetic")]

    def build(self, shape: Shape) -> Any:
        from .modules import ChannelShuffle as Module

        return Module(self.groups)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """A permutation keeps nothing."""
        return []

    def output_is_input(self, shape: Shape, layout: Layout) -> bool:
        """One group, or one channel per group: the transpose swaps a size-1 axis, so a
        contiguous input stays contiguous and torch's contiguous() returns its view."""
        return self.groups in (1, shape[0]) and layout.contiguous

    def channels_last(self, shape: Shape, channels_last: bool) -> bool:
        return False  # contiguous() gives NCHW order
