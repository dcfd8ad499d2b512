"""Layers for the classifier end: flatten, linear, dropout."""

from __future__ import annotations

from typing import Any

from .base import Arg, Cost, Figure, Layer, Saved, Shape, ShapeError, dot, elements


class Flatten(Layer):
    name = "flatten"
    summary = "CxHxW map to a vector of C*H*W features (torch.nn.Flatten)"
    work = "none (a view)"

    def infer(self, shape: Shape) -> Cost:
        # Every feature after a flatten sees the whole map: a window of H x W.
        window = (shape[1], shape[2]) if len(shape) == 3 else (1, 1)
        return Cost(output=(elements(shape),), rf_kernel=window)

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        return [Figure("output features", dot(*shape), cost.output[0],
                       "a view: no work, the map read as one vector")]

    def build(self, shape: Shape) -> Any:
        from torch import nn

        return nn.Flatten()

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """A view keeps nothing."""
        return []

    def output_is_input(self) -> bool:
        return True


class Linear(Layer):
    name = "linear"
    aliases = ("fc", "dense")
    summary = "fully connected layer on a vector (torch.nn.Linear)"
    work = "MACs"
    autocast = "half"
    args = (Arg("out", "int", min=1, doc="output features"), Arg("bias", "bool", True))
    out: int
    bias: bool

    def infer(self, shape: Shape) -> Cost:
        if len(shape) != 1:
            shown = "x".join(map(str, shape))
            raise ShapeError(f"linear needs a flat vector but gets a {shown} feature map; "
                             "add a flatten (or global_avgpool then flatten) before it")
        features = shape[0]
        return Cost(
            output=(self.out,),
            params=self.out * features + (self.out if self.bias else 0),
            macs=self.out * features,
            other_ops=self.out if self.bias else 0,
        )

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        f, out = shape[0], self.out
        bias = f" + {out}" if self.bias else ""
        figures = [Figure("params", f"{out} · {f}{bias}", cost.params,
                          "a weight from every input feature to every output"
                          + (", plus one bias per output" if self.bias else "")),
                   Figure("MACs", dot(out, f), cost.macs, "one dot product per output")]
        if self.bias:
            figures.append(Figure("other ops", str(out), cost.other_ops, "bias adds"))
        return figures

    def build(self, shape: Shape) -> Any:
        from torch import nn

        return nn.Linear(shape[0], self.out, self.bias)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """The weight's gradient needs the input; the input's needs only the weight."""
        return [Saved("input", shape[0])] if trainable else []


class Dropout(Layer):
    name = "dropout"
    summary = "zeroes a fraction p of elements in training; identity at inference"
    work = "none at inference"
    args = (Arg("p", "float", 0.5, min=0, max=1, max_open=True),)
    p: float

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

    def output_is_input(self) -> bool:
        return self.p == 0
