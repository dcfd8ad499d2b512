"""Max, average and adaptive average pooling."""

from __future__ import annotations

import math
from typing import Any

from .base import Arg, ArgError, Cost, Figure, Layer, Saved, Shape, ShapeError, dot
from .window import axis_figures, elements, need_map, window_formula, window_output


class _WindowPool(Layer):
    """Shared by max and average pooling: same window arithmetic, same argument rules."""

    kernel: Arg[tuple[int, int]] = Arg("pair", min=1)
    stride: Arg[tuple[int, int] | None] = Arg("pair", None, min=1,
                                              doc="defaults to the kernel size")
    padding: Arg[tuple[int, int]] = Arg("pair", 0, min=0)
    ceil_mode: bool  # an argument of maxpool and avgpool; subsample's is always false

    def strides(self) -> tuple[int, int]:
        return self.stride if self.stride is not None else self.kernel

    def dilations(self) -> tuple[int, int]:
        return (1, 1)

    def validate(self) -> None:
        # ATen's pool2d_shape_check: kernel // 2 >= padding, the kernel itself whatever the
        # dilation ("pad should be smaller than or equal to half of kernel size").
        for k, p in zip(self.kernel, self.padding):
            if p > k // 2:
                raise ArgError(f"padding {p} is more than half the kernel {k} "
                               "(PyTorch refuses it, whatever the dilation)")

    def window(self, shape: Shape) -> tuple[int, int, int]:
        c, h, w = need_map(self.name, shape)
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.strides(), self.dilations()
        oh = window_output(h, kh, sh, self.padding[0], dh, self.ceil_mode, "H")
        ow = window_output(w, kw, sw, self.padding[1], dw, self.ceil_mode, "W")
        return c, oh, ow

    def window_figures(self, shape: Shape, cost: Cost, per: str, what: str) -> list[Figure]:
        """Output size along H and W, then `per` ops for each output element."""
        c, h, w = shape
        _, oh, ow = cost.output
        formulas = tuple(window_formula(size, k, s, (p, p), d, self.ceil_mode, o)
                         for size, k, s, p, d, o in zip((h, w), self.kernel, self.strides(),
                                                        self.padding, self.dilations(), (oh, ow)))
        note = ""
        if self.ceil_mode:
            note = ("ceil_mode rounds up, keeping a last partial window; a window that would "
                    "start past the input is dropped (− 1)")
        elif self.stride is None:
            note = "stride defaults to the kernel size"
        return [*axis_figures(formulas, (oh, ow), note),  # type: ignore[arg-type]
                Figure("other ops", f"{dot(c, oh, ow)} · ({per})", cost.other_ops, what)]

    def rf(self) -> dict[str, tuple[int, int]]:
        (kh, kw), (dh, dw) = self.kernel, self.dilations()
        return {"rf_kernel": (dh * (kh - 1) + 1, dw * (kw - 1) + 1), "rf_stride": self.strides()}


class MaxPool(_WindowPool):
    name = "maxpool"
    aliases = ("max_pool", "maxpool2d")
    summary = "max pooling (torch.nn.MaxPool2d)"
    work = "comparisons: kernel area - 1 per output"
    time_kind = "maxpool"
    dilation: Arg[tuple[int, int]] = Arg("pair", 1, min=1)
    ceil_mode: Arg[bool] = Arg("bool", False)  # type: ignore[assignment]

    def dilations(self) -> tuple[int, int]:
        return self.dilation

    def infer(self, shape: Shape) -> Cost:
        c, oh, ow = self.window(shape)
        area = self.kernel[0] * self.kernel[1]
        return Cost(output=(c, oh, ow), other_ops=c * oh * ow * (area - 1),
                    connections=c * oh * ow * area, **self.rf())

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        kh, kw = self.kernel
        return self.window_figures(shape, cost, f"{kh}·{kw} − 1",
                                   "comparisons: a max over the window's area")

    def build(self, shape: Shape) -> Any:
        from torch import nn

        return nn.MaxPool2d(self.kernel, self.strides(), self.padding, self.dilation,
                            ceil_mode=self.ceil_mode)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """The input, and where each maximum came from (int64, one per output element)."""
        return [Saved("input", elements(shape)), Saved("indices", elements(cost.output), "int64")]


class AvgPool(_WindowPool):
    name = "avgpool"
    aliases = ("avg_pool", "avgpool2d")
    summary = "average pooling (torch.nn.AvgPool2d)"
    work = "adds and a divide: kernel area per output"
    time_kind = "avgpool"
    ceil_mode: Arg[bool] = Arg("bool", False)  # type: ignore[assignment]
    count_include_pad: Arg[bool] = Arg("bool", True)

    def infer(self, shape: Shape) -> Cost:
        c, oh, ow = self.window(shape)
        area = self.kernel[0] * self.kernel[1]
        return Cost(output=(c, oh, ow), other_ops=c * oh * ow * area,
                    connections=c * oh * ow * area, **self.rf())

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        kh, kw = self.kernel
        return self.window_figures(shape, cost, f"{kh}·{kw}",
                                   "adds and a divide over the window's area")

    def build(self, shape: Shape) -> Any:
        from torch import nn

        return nn.AvgPool2d(self.kernel, self.strides(), self.padding, self.ceil_mode,
                            self.count_include_pad)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """The input (its backward reads the input's size and layout from it)."""
        return [Saved("input", elements(shape))]


class Subsample(_WindowPool):
    name = "subsample"
    aliases = ("subsampling",)
    summary = ("LeNet-5's trainable subsampling: window sum x a coefficient + a bias, one "
               "of each per map")
    work = "kernel area + 1 per output: area - 1 adds, a multiply, a bias add"
    weight_args = ()
    time_kind = "avgpool"  # an average pool, then a scale and a shift per map
    ceil_mode = False

    def infer(self, shape: Shape) -> Cost:
        c, oh, ow = self.window(shape)
        area = self.kernel[0] * self.kernel[1]
        outputs = c * oh * ow
        return Cost(output=(c, oh, ow), params=2 * c, other_ops=outputs * (area + 1),
                    connections=outputs * (area + 1), **self.rf())

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        kh, kw = self.kernel
        figures = self.window_figures(shape, cost, f"{kh}·{kw} + 1",
                                      "the window's adds, one multiply and one bias add")
        _, oh, ow = cost.output
        return [*figures, Figure("params", f"2 · {shape[0]}", cost.params,
                                 "one coefficient and one bias per map"),
                Figure("connections", f"{dot(shape[0], oh, ow)} · ({kh}·{kw} + 1)",
                       cost.connections, "each output reads its window, plus its bias")]

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """The window means times the per-map coefficients (the bias add keeps nothing):
        the pooling keeps its input and the multiply the coefficients when the input needs
        a gradient; the multiply keeps the means when the coefficients are trained."""
        saved = []
        if grad_in:
            saved += [Saved("input", elements(shape)),
                      Saved("coefficients", shape[0], per_sample=False)]
        if trainable:
            saved.append(Saved("means", elements(cost.output)))
        return saved

    def build(self, shape: Shape) -> Any:
        from .modules import Subsample2d

        return Subsample2d(shape[0], self.kernel, self.strides(), self.padding)


def _bins(size: int, out: int) -> tuple[int, int]:
    """Total and largest window length of adaptive pooling along one axis, in O(1).

    ATen's window i spans floor(i*size/out) .. ceil((i+1)*size/out); its length is
    ceil((x + size) / out) with x = i*size mod out, which runs over the multiples of
    g = gcd(size, out). So the lengths add up to size + out - g and the largest is
    ceil((size + out - g) / out). (A loop over the windows would let `size: 1e9` eat memory.)
    """
    g = math.gcd(size, out)
    return size + out - g, -(-(size + out - g) // out)


class AdaptiveAvgPool(Layer):
    name = "adaptive_avgpool"
    aliases = ("adaptive_avg_pool",)
    summary = "adaptive average pooling to a fixed output size (torch.nn.AdaptiveAvgPool2d)"
    work = "adds and a divide: one per input element of each window"
    time_kind = "global_pool"
    size: Arg[tuple[int, int]] = Arg("pair", 1, min=1, doc="output size, s or [h, w]")

    def infer(self, shape: Shape) -> Cost:
        c, h, w = need_map(self.name, shape)
        oh, ow = self.size
        if h == 0 or w == 0:
            raise ShapeError("input has no spatial extent")
        (total_h, widest_h), (total_w, widest_w) = _bins(h, oh), _bins(w, ow)
        return Cost(
            output=(c, oh, ow),
            other_ops=c * total_h * total_w,
            connections=c * total_h * total_w,
            # Windows differ in size when the input does not divide evenly; the receptive
            # field takes the largest window and the smallest step.
            rf_kernel=(widest_h, widest_w),
            rf_stride=(max(h // oh, 1), max(w // ow, 1)),
        )

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        c, h, w = shape
        (oh, ow), sums = self.size, []
        for size, out in ((h, oh), (w, ow)):
            g = math.gcd(size, out)
            sums.append(str(size) if out == g else f"({size} + {out} − {g})")
        note = (f"the output size is fixed at {oh}x{ow}; window i spans ⌊i·size/out⌋ to "
                "⌈(i+1)·size/out⌉, so the window lengths add up to size + out − gcd(size, out)")
        return [Figure("other ops", dot(c, *sums), cost.other_ops, note)]

    def build(self, shape: Shape) -> Any:
        from torch import nn

        return nn.AdaptiveAvgPool2d(self.size)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """The input; to 1x1 torch takes a mean over H and W instead, which keeps nothing."""
        return [] if tuple(self.size) == (1, 1) else [Saved("input", elements(shape))]


class GlobalAvgPool(AdaptiveAvgPool):
    name = "global_avgpool"
    aliases = ("gap",)
    summary = "global average pooling to Cx1x1 (adaptive average pooling to 1x1)"
    size = (1, 1)  # type: ignore[assignment]  # fixed: not an argument here

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        return [Figure("other ops", dot(*shape), cost.other_ops,
                       "one add per input element, then a divide per channel's average")]
