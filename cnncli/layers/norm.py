"""Batch normalisation and local response normalisation."""

from __future__ import annotations

from typing import Any

from .base import Arg, Cost, Figure, Layer, Saved, Shape, dot
from .window import elements, need_map


class BatchNorm(Layer):
    name = "batchnorm"
    aliases = ("bn", "batch_norm")
    summary = "batch normalisation over channels (BatchNorm2d on maps, BatchNorm1d on vectors)"
    work = "2 per element (scale and shift, as folded at inference)"
    time_kind = "norm"
    buffer_note = "BatchNorm running statistics"
    weight_args = ("affine",)
    eps: Arg[float] = Arg("float", 1e-5, min=0)
    momentum: Arg[float] = Arg("float", 0.1, min=0, max=1)
    affine: Arg[bool] = Arg("bool", True, doc="learn a scale and shift per channel")

    def infer(self, shape: Shape) -> Cost:
        c = shape[0]
        # Buffers: running mean and variance (float32), plus num_batches_tracked (one int64).
        return Cost(output=shape, params=2 * c if self.affine else 0, buffers=2 * c + 1,
                    buffer_bytes=2 * c * 4 + 8, other_ops=2 * elements(shape))

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        c = shape[0]
        figures = [Figure("params", f"2 · {c}" if self.affine else "0", cost.params,
                          "a scale and a shift per channel" if self.affine
                          else "affine: false learns nothing"),
                   Figure("buffers", f"2 · {c} + 1", cost.buffers,
                          "running mean and variance per channel, and num_batches_tracked")]
        return figures + self.elementwise(shape, cost, 2, "scale and shift per element, as "
                                          "folded at inference")

    def build(self, shape: Shape) -> Any:
        from torch import nn

        kind = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
        return kind(shape[0], eps=self.eps, momentum=self.momentum, affine=self.affine)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """The input, and the batch mean and inverse std per channel (float32)."""
        return [Saved("input", elements(shape)),
                Saved("stats", 2 * shape[0], "fp32", per_sample=False)]


class LocalResponseNorm(Layer):
    name = "lrn"
    aliases = ("local_response_norm",)
    summary = "local response normalisation across channels (AlexNet; torch.nn.LocalResponseNorm)"
    work = "2*size+3 per element: size squares, size-1 adds, then scale, add, power, divide"
    time_kind = "transcendental"  # the power
    size: Arg[int] = Arg("int", 5, min=1, doc="channels in the window")
    alpha: Arg[float] = Arg("float", 1e-4, min=0)
    beta: Arg[float] = Arg("float", 0.75, min=0)
    k: Arg[float] = Arg("float", 1.0, min=0)

    def infer(self, shape: Shape) -> Cost:
        need_map(self.name, shape)  # torch's LocalResponseNorm wants (N, C, H, W)
        return Cost(output=shape, other_ops=(2 * self.size + 3) * elements(shape),
                    connections=self.size * elements(shape))

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        n = dot(*cost.output)
        return [Figure("other ops", f"(2·{self.size} + 3) · {n}", cost.other_ops,
                       f"per element: {self.size} squares, {self.size} − 1 adds, then scale, "
                       "add, power and divide")]

    def build(self, shape: Shape) -> Any:
        from torch import nn

        return nn.LocalResponseNorm(self.size, self.alpha, self.beta, self.k)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """torch composes it of ops: x² padded by size − 1 channels (kept by the window
        average), the scaled sum before and after the power (kept by pow and the divide),
        and the input (kept by the square and the divide)."""
        c, h, w = shape
        n = elements(shape)
        return [Saved("input", n), Saved("padded squares", (c + self.size - 1) * h * w),
                Saved("scaled sum", n), Saved("denominator", n)]
