"""Torch modules for layer types torch lacks: LeNet-5's sparse conv, trainable subsampling,
scaled tanh and Euclidean RBF units.

Imported only inside the layers' build(), so the static commands never import torch. Each
module checks its own arguments (ValueError), as torch's own modules do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class SparseConv2d(nn.Module):
    """A convolution where output map i reads only the input maps `table[i]`.

    Output maps that read the same number of inputs form one grouped convolution over the
    gathered inputs, so the weights are exactly the connected kernels (LeNet-5's C3 has
    1,516 parameters, not 2,416) and FlopCounterMode counts only the connected kernels.
    """

    def __init__(self, in_channels: int, table: Sequence[Sequence[int]], kernel: Any,
                 stride: Any = 1, padding: Any = 0, dilation: Any = 1, bias: bool = True,
                 out: int | None = None):
        super().__init__()
        rows = [list(row) for row in table]
        if out is not None and len(rows) != out:
            raise ValueError(f"the table has {len(rows)} rows for {out} output maps")
        for row in rows:
            if not row or len(set(row)) != len(row) or \
                    not all(0 <= i < in_channels for i in row):
                raise ValueError(f"bad connection row {row} for {in_channels} input maps")
        sizes = sorted({len(row) for row in rows})
        self.gather: list[list[int]] = []
        order: list[int] = []
        parts = []
        for size in sizes:
            maps = [i for i, row in enumerate(rows) if len(row) == size]
            order += maps
            self.gather.append([c for i in maps for c in rows[i]])
            parts.append(nn.Conv2d(size * len(maps), len(maps), kernel, stride, padding,
                                   dilation, groups=len(maps), bias=bias))
        self.parts = nn.ModuleList(parts)
        # Where each output map of the table lies in the concatenated parts (None: in place).
        back = [order.index(i) for i in range(len(rows))]
        self.order = None if back == sorted(back) else back

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [part(x[:, idx]) for part, idx in zip(self.parts, self.gather)]
        y = torch.cat(outs, dim=1) if len(outs) > 1 else outs[0]
        return y if self.order is None else y[:, self.order]


class Subsample2d(nn.Module):
    """LeNet-5's subsampling: each window's sum times a trainable coefficient, plus a
    trainable bias, one of each per map. Starts as average pooling (coefficient 1/area)."""

    def __init__(self, channels: int, kernel: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int] = (0, 0)):
        super().__init__()
        self.kernel, self.stride, self.padding = kernel, stride, padding
        self.weight = nn.Parameter(torch.full((channels,), 1.0 / (kernel[0] * kernel[1])))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The window sum as mean x area: ONNX has no divisor_override.
        area = self.kernel[0] * self.kernel[1]
        mean = F.avg_pool2d(x, self.kernel, self.stride, self.padding, count_include_pad=True)
        return mean * (area * self.weight).view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class ScaledTanh(nn.Module):
    """amplitude * tanh(slope * x): LeCun's squashing function, 1.7159 tanh(2x/3)."""

    def __init__(self, amplitude: float, slope: float):
        super().__init__()
        self.amplitude, self.slope = amplitude, slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.amplitude * torch.tanh(self.slope * x)

    def extra_repr(self) -> str:
        return f"amplitude={self.amplitude}, slope={self.slope}"


class EuclideanRBF(nn.Module):
    """Negative squared Euclidean distance of the input to each fixed prototype.

    The prototypes are a buffer (saved with the weights, never trained). The distance is
    expanded as |x|^2 - 2 x.w + |w|^2, one matrix product: FlopCounterMode counts
    2 * out * features per sample, what the analysis counts as out * features MACs.
    """

    def __init__(self, prototypes: torch.Tensor):
        super().__init__()
        self.register_buffer("prototypes", prototypes.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.prototypes
        dist = x.square().sum(1, keepdim=True) - 2 * x @ w.t() + w.square().sum(1)
        return -dist
