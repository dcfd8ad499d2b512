"""2-D transposed convolution (the learned upsampling of U-Net's decoder, FCN's heads)."""

from __future__ import annotations

import math
from typing import Any

from .base import Arg, ArgError, Calls, Cost, Figure, Layer, Saved, Shape, ShapeError, dot
from .conv import BLOCKED_FROM
from .window import axis_figures, elements, need_map


def transposed_output(size: int, kernel: int, stride: int, pad: int, dilation: int,
                      extra: int, axis: str) -> int:
    """torch's ConvTranspose2d length: (size − 1)·stride − 2·pad + dilation·(kernel − 1)
    + output_padding + 1."""
    out = (size - 1) * stride - 2 * pad + dilation * (kernel - 1) + extra + 1
    if out < 1:
        raise ShapeError(f"output {axis} would be {out}, below 1: padding {pad} crops 2·{pad} "
                         f"from the {out + 2 * pad} the {size} inputs spread over")
    return out


def taps_inside(size: int, kernel: int, stride: int, pad: int, dilation: int,
                out: int) -> int:
    """How many (input position, kernel tap) pairs along one axis land inside the output
    (the rest fall on the rows `padding` crops): input i's tap j lands on i·stride − pad
    + j·dilation. Loops over the shorter of the two ranges."""
    if size <= kernel:
        return sum(_count(pad - i * stride, out, dilation, kernel) for i in range(size))
    return sum(_count(pad - j * dilation, out, stride, size) for j in range(kernel))


def _count(offset: int, out: int, step: int, n: int) -> int:
    """#{t in [0, n): 0 <= t·step − offset < out}."""
    low = max(0, -(-offset // step))
    high = min(n - 1, (out - 1 + offset) // step)
    return max(0, high - low + 1)


def reach(kernel: int, stride: int, dilation: int) -> int:
    """Input positions one output reads at most, as a window on the input's grid: the taps
    that can meet one output are every (stride / gcd)-th, gcd = gcd(stride, dilation), and
    they read inputs dilation / gcd apart."""
    g = math.gcd(stride, dilation)
    taps = -(-kernel // (stride // g))
    return (taps - 1) * (dilation // g) + 1


class ConvTranspose(Layer):
    name = "conv_transpose"
    aliases = ("conv_transpose2d", "deconv")
    summary = ("2-D transposed convolution (torch.nn.ConvTranspose2d): each input element "
               "spreads a kernel over the output; stride s upsamples by s")
    work = "MACs"
    #: a kind of its own: oneDNN's deconvolution runs 1.3 to 2.8x slower than a 1x1 conv
    #: with the same MACs, the more so the bigger the map it scatters into
    time_kind = "conv_transpose"
    counts_macs = True
    autocast = "half"
    weight_args = ("out", "kernel", "groups", "bias")
    out: Arg[int] = Arg("int", min=1, doc="output channels")
    kernel: Arg[tuple[int, int]] = Arg("pair", min=1, doc="kernel size, k or [kh, kw]")
    stride: Arg[tuple[int, int]] = Arg("pair", 1, min=1)
    padding: Arg[tuple[int, int]] = Arg("pair", 0, min=0,
                                        doc="rows and columns cropped from each border")
    output_padding: Arg[tuple[int, int]] = Arg("pair", 0, min=0,
                                               doc="extra rows and columns after")
    dilation: Arg[tuple[int, int]] = Arg("pair", 1, min=1)
    groups: Arg[int] = Arg("int", 1, min=1, doc="channel groups; 1 is a full convolution")
    bias: Arg[bool] = Arg("bool", True)

    def validate(self) -> None:
        if self.out % self.groups:
            raise ArgError(f"groups={self.groups} must divide out={self.out}")
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= max(s, d):
                raise ArgError(f"output_padding {op} must be smaller than the stride {s} or "
                               f"the dilation {d} (PyTorch's rule)")

    def infer(self, shape: Shape) -> Cost:
        c, h, w = need_map(self.name, shape)
        if c % self.groups:
            raise ShapeError(f"groups={self.groups} must divide the {c} input channels")
        sizes = [transposed_output(size, *axis, name) for size, axis, name in
                 zip((h, w), self._axes(), "HW")]
        oh, ow = sizes
        per_input = self.out // self.groups * self.kernel[0] * self.kernel[1]
        bias = self.out if self.bias else 0
        inside = [taps_inside(size, k, s, p, d, o) for size, (k, s, p, d, _), o in
                  zip((h, w), self._axes(), sizes)]
        return Cost(
            output=(self.out, oh, ow),
            params=c * per_input + bias,
            # FlopCounterMode's rule: every tap of every input element, cropped or not
            macs=c * h * w * per_input,
            other_ops=oh * ow * bias,
            connections=self.out * (c // self.groups) * inside[0] * inside[1] + oh * ow * bias,
            rf_kernel=(reach(self.kernel[0], self.stride[0], self.dilation[0]),
                       reach(self.kernel[1], self.stride[1], self.dilation[1])),
            rf_upsample=self.stride,  # outputs lie 1/stride of an input step apart
        )

    def _axes(self) -> list[tuple[int, int, int, int, int]]:
        """(kernel, stride, padding, dilation, output_padding) along H, then W."""
        return list(zip(self.kernel, self.stride, self.padding, self.dilation,
                        self.output_padding))

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        c, h, w = shape
        out, oh, ow = cost.output
        formulas = tuple(f"({size} − 1) · {s} − 2·{p} + {d}·({k} − 1) + {op} + 1"
                         for size, (k, s, p, d, op) in zip((h, w), self._axes()))
        per = f"({dot(out // self.groups, *self.kernel)})"
        note = "each input element spreads its kernel over the output, stride apart; " \
            "padding crops that many rows and columns from each border"
        figures = [*axis_figures(formulas, (oh, ow), note),  # type: ignore[arg-type]
                   Figure("params", f"{c} · {per}" + (f" + {out}" if self.bias else ""),
                          cost.params, self._groups_note(c)),
                   Figure("MACs", f"{dot(c, h, w)} · {per}", cost.macs,
                          "every input element times every tap, into out / groups channels "
                          "(taps landing on cropped padding count, as torch's counter does)")]
        if self.bias:
            figures.append(Figure("other ops", dot(out, oh, ow), cost.other_ops,
                                  "one bias add per output element"))
        return figures

    def _groups_note(self, c: int) -> str:
        if self.groups == 1:
            return "a kernel from every input channel to every output channel"
        return (f"{self.groups} groups: each input channel feeds {self.out} / {self.groups} "
                f"= {self.out // self.groups} output channels")

    def calls(self, shape: Shape) -> Calls:
        """One call; oneDNN copies an input of BLOCKED_FROM channels or more (channels
        last), as for conv."""
        return Calls(self.time_kind, copies_input=shape[0] >= BLOCKED_FROM)

    def build(self, shape: Shape) -> Any:
        from torch import nn

        return nn.ConvTranspose2d(shape[0], self.out, self.kernel, self.stride, self.padding,
                                  self.output_padding, self.groups, self.bias, self.dilation)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """As conv: one backward node for input, weight and bias keeps the input (and, under
        autocast, the weight's half copy)."""
        weight = cost.params - (self.out if self.bias else 0)
        return [Saved("input", elements(shape)),
                Saved("half weight", weight, "half", per_sample=False)]
