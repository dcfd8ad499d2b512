"""Layers for the classifier end: flatten, linear, dropout."""

from __future__ import annotations

from typing import Any

from .base import (
    Arg,
    Calls,
    Cost,
    Figure,
    Layer,
    Layout,
    Saved,
    Shape,
    ShapeError,
    dot,
    shape_text,
)
from .window import elements


class Flatten(Layer):
    name = "flatten"
    summary = ("CxHxW map to a vector of C*H*W features (torch.nn.Flatten); from axis "
               "`start` on: start 1 keeps the channels, C x (H*W)")
    work = "none (a view)"
    time_kind = "view"
    start: Arg[int] = Arg("int", 0, min=0, doc="first per-sample axis flattened (0: all)")

    def infer(self, shape: Shape) -> Cost:
        if self.start >= len(shape):
            raise ShapeError(f"flatten: start {self.start} is past the last axis of "
                             f"{shape_text(shape)} (axes 0 to {len(shape) - 1})")
        # Every feature after a whole-map flatten sees the whole map: a window of H x W.
        window = (shape[1], shape[2]) if len(shape) == 3 and self.start == 0 else (1, 1)
        return Cost(output=(*shape[:self.start], elements(shape[self.start:])),
                    rf_kernel=window)

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        name = f"output axis {self.start}" if self.start else "output features"
        return [Figure(name, dot(*shape[self.start:]), cost.output[-1],
                       "a view: no work, the axes from start on read as one")]

    def build(self, shape: Shape) -> Any:
        from torch import nn

        return nn.Flatten(start_dim=self.start + 1)  # dim 0 is the batch

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """A view keeps nothing."""
        return []

    def output_is_input(self, shape: Shape, layout: Layout) -> bool:
        """A view, except of a channels-last map flattened whole, which the reshape must
        copy (H and W of a channels-last map merge without one)."""
        return self.start > 0 or not layout.channels_last


class Linear(Layer):
    name = "linear"
    aliases = ("fc", "dense")
    summary = ("fully connected layer on a vector (torch.nn.Linear); with pointwise: true, "
               "on the channels at each position of a map (ConvNeXt's Linear)")
    work = "MACs"
    counts_macs = True
    autocast = "half"
    weight_args = ("out", "bias")  # pointwise or not: one (out, in) weight
    time_kind = "linear"
    out: Arg[int] = Arg("int", min=1, doc="output features")
    bias: Arg[bool] = Arg("bool", True)
    pointwise: Arg[bool] = Arg("bool", False, doc="on a map: the channels at each position")

    def infer(self, shape: Shape) -> Cost:
        if len(shape) != 1 and not self.pointwise:
            shown = shape_text(shape)
            raise ShapeError(f"linear needs a flat vector but gets a {shown} feature map; "
                             "add a flatten (or global_avgpool then flatten) before it, or "
                             "say pointwise: true to apply it at each position")
        features, positions = shape[0], elements(shape[1:])
        return Cost(
            output=(self.out, *shape[1:]),
            params=self.out * features + (self.out if self.bias else 0),
            macs=self.out * features * positions,
            other_ops=self.out * positions if self.bias else 0,
            connections=self.out * (features + (1 if self.bias else 0)) * positions,
        )

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        f, out = shape[0], self.out
        at = shape[1:]
        bias = f" + {out}" if self.bias else ""
        reads = f"{out} · ({f} + 1)" if self.bias else dot(out, f)
        figures = [Figure("params", f"{out} · {f}{bias}", cost.params,
                          "a weight from every input feature to every output"
                          + (", plus one bias per output" if self.bias else "")),
                   Figure("MACs", dot(out, f, *at), cost.macs, "one dot product per output"
                          + (" at each position" if at else "")),
                   Figure("connections", f"{reads} · {dot(*at)}" if at else reads,
                          cost.connections,
                          "the paper's count: what each output unit reads, plus its bias")]
        if self.bias:
            figures.append(Figure("other ops", dot(out, *at), cost.other_ops, "bias adds"))
        return figures

    def build(self, shape: Shape) -> Any:
        from torch import nn

        from .modules import PointwiseLinear

        kind = PointwiseLinear if len(shape) > 1 else nn.Linear
        return kind(shape[0], self.out, self.bias)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """The weight's gradient needs the input; the input's needs only the weight.

        Pointwise, torch multiplies the channels-last view of the map folded to
        (N·H·W, C), which is what the weight's gradient keeps: a copy of the input unless
        that fold is a view (the analysis knows the input's layout: Layout.folds). Under
        autocast the input's gradient keeps the weight's half copy (frozen or not).
        """
        saved = [Saved("input", elements(shape), folded=len(shape) > 1)] if trainable else []
        if grad_in:
            weights = cost.params - (self.out if self.bias else 0)
            saved.append(Saved("half weight", weights, "half", per_sample=False))
        return saved

    def channels_last(self, shape: Shape, channels_last: bool) -> bool:
        """Pointwise: the output is the NHWC result permuted back, so channels-last."""
        return len(shape) > 1

    def calls(self, shape: Shape) -> Calls:
        """On a map (pointwise): one GEMM over every position, a 1x1 conv's work."""
        return Calls("conv1x1" if len(shape) > 1 else "linear")


class EuclideanRBF(Layer):
    name = "rbf"
    aliases = ("euclidean_rbf",)
    summary = ("LeNet-5's output: minus the squared distance of the input to fixed +-1 "
               "prototypes, one per output (use as logits)")
    work = "MACs (the squares summed); other ops are the subtractions"
    buffer_note = "fixed RBF prototypes"
    counts_macs = True
    #: its module makes ten small calls (squares, sums, a matrix product): a kind of its own
    time_kind = "rbf"
    out: Arg[int] = Arg("int", min=1, doc="output units (classes)")

    def infer(self, shape: Shape) -> Cost:
        if len(shape) != 1:
            shown = shape_text(shape)
            raise ShapeError(f"rbf needs a flat vector but gets a {shown} feature map; "
                             "add a flatten before it")
        weights = self.out * shape[0]
        return Cost(output=(self.out,), buffers=weights, buffer_bytes=4 * weights,
                    macs=weights, other_ops=weights, connections=weights)

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        return [Figure("MACs", dot(self.out, shape[0]), cost.macs,
                       "each unit squares and sums its input's difference from its prototype"),
                Figure("other ops", dot(self.out, shape[0]), cost.other_ops,
                       "the subtractions, input minus prototype"),
                Figure("buffers", dot(self.out, shape[0]), cost.buffers,
                       "the fixed +-1 prototypes, one per unit (not trained)"),
                Figure("connections", dot(self.out, shape[0]), cost.connections,
                       "each unit reads every input (no bias)")]

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """The input, for its square; the product with the fixed prototypes keeps only them
        (a buffer, not counted)."""
        return [Saved("input", shape[0])]

    def prototypes(self, features: int) -> list[list[float]]:
        """The fixed +-1 codes: bits of Python's Mersenne Twister seeded with 0, the same on
        every machine and torch version (a stand-in for the paper's 7x12 bitmaps)."""
        import random  # here: only RBF's codes need it (random loads hashlib, bisect ...)

        rng = random.Random(0)
        return [[1.0 if rng.getrandbits(1) else -1.0 for _ in range(features)]
                for _ in range(self.out)]

    def build(self, shape: Shape) -> Any:
        import torch

        from .modules import EuclideanRBF as Module

        return Module(torch.tensor(self.prototypes(shape[0])))


class Dropout(Layer):
    name = "dropout"
    summary = "zeroes a fraction p of elements in training; identity at inference"
    work = "none at inference"
    time_kind = "view"
    p: Arg[float] = Arg("float", 0.5, min=0, max=1, max_open=True)

    def infer(self, shape: Shape) -> Cost:
        return Cost(output=shape)

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        return [Figure("other ops", "0", cost.other_ops,
                       f"zeroes a fraction {self.p} in training; the identity at inference")]

    def build(self, shape: Shape) -> Any:
        from torch import nn

        return nn.Dropout(self.p)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """The scaled keep-mask (p = 0 returns the input itself and keeps nothing)."""
        return [Saved("mask", elements(shape), "mask")] if self.p > 0 else []

    def output_is_input(self, shape: Shape, layout: Layout) -> bool:
        return self.p == 0
