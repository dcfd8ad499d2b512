"""Torch modules for layer types torch lacks: LeNet-5's sparse conv, trainable subsampling,
scaled tanh and Euclidean RBF units, ConvNeXt's pieces, crops, channel slices and YOLOv8's
box decoding (the transformers' are in modules_tokens).

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


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels at each position of an NCHW map (torchvision's
    LayerNorm2d: the same weight and bias keys as nn.LayerNorm), or over the features of
    each of (N, D, L) tokens."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.movedim(1, -1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.movedim(-1, 1)


class LayerScale(nn.Module):
    """A learned factor per channel, shaped (C, 1, 1) like ConvNeXt's `layer_scale`."""

    def __init__(self, shape: Sequence[int], init: float):
        super().__init__()
        size = (shape[0], *[1] * (len(shape) - 1))
        self.scale = nn.Parameter(torch.full(size, float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016) per sample, as torchvision's StochasticDepth
    in "row" mode: in training, each sample's path is zeroed with probability p and the
    rest scaled by 1/(1 - p); the identity at inference."""

    def __init__(self, p: float):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"drop path probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.dim() - 1)
        noise = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * noise.div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle, as torchvision writes it (view, transpose, copy)."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        x = x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).contiguous()
        return x.view(n, c, h, w)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"


class PointwiseLinear(nn.Linear):
    """nn.Linear on the channels at each position of an NCHW map (or the features of each
    of (N, D, L) tokens): the weight is (out, C), as in ConvNeXt's blocks (which permute to
    channels-last around nn.Linear)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.movedim(1, -1), self.weight, self.bias).movedim(-1, 1)


class CenterCrop2d(nn.Module):
    """The centre [h, w] of a map, an odd difference's extra row or column cut from the
    bottom or right. The slice is a view; contiguous() copies it (as torch.cat would), so
    the layers after see an ordinary map."""

    def __init__(self, size: Sequence[int]):
        super().__init__()
        self.size = (int(size[0]), int(size[1]))
        if min(self.size) < 1:
            raise ValueError(f"crop size must be at least 1, got {self.size}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.size
        if h > x.shape[-2] or w > x.shape[-1]:
            raise ValueError(f"cannot crop {tuple(x.shape[-2:])} to {self.size}")
        top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
        return x[..., top:top + h, left:left + w].contiguous()

    def extra_repr(self) -> str:
        return f"size={self.size}"


class ChannelSlice(nn.Module):
    """Channels start to stop - 1 of the input: a view, as `chunk` gives YOLOv8's C2f."""

    def __init__(self, start: int, stop: int):
        super().__init__()
        if not 0 <= start < stop:
            raise ValueError(f"slice needs 0 <= start < stop, got {start} and {stop}")
        self.start, self.stop = start, stop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stop > x.shape[1]:
            raise ValueError(f"cannot slice channels up to {self.stop} of {x.shape[1]}")
        return x[:, self.start:self.stop]

    def extra_repr(self) -> str:
        return f"start={self.start}, stop={self.stop}"


class Integral(nn.Module):
    """The DFL's fixed 1x1 conv from reg_max bins to their expected value: weight
    0, 1, ..., reg_max - 1, never trained (Ultralytics' `dfl.conv`). Not an nn.Conv2d, so
    weight initialisation passes it by."""

    def __init__(self, bins: int):
        super().__init__()
        # From a list, not arange: arange on the meta device first imports torch's
        # decompositions, seconds for every build.
        values = torch.tensor([float(i) for i in range(bins)]).view(1, bins, 1, 1)
        self.weight = nn.Parameter(values, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight)


class YoloDecode(nn.Module):
    """Ultralytics' Detect decoding on (N, 4·reg_max + classes, anchors), the levels'
    maps flattened and joined in order: DFL (softmax over each side's bins, then their
    expected value), left/top/right/bottom distances to x, y, w, h around each cell's
    centre, times the level's stride; sigmoid class scores. The anchors are constants of
    the grids, made on each call (no buffers: Ultralytics keeps them out of the
    state_dict)."""

    def __init__(self, reg_max: int, strides: Sequence[int], grids: Sequence[Sequence[int]]):
        super().__init__()
        if len(strides) != len(grids) or not strides:
            raise ValueError(f"one stride per grid, got {len(strides)} and {len(grids)}")
        self.reg_max = reg_max
        self.strides = tuple(int(s) for s in strides)
        self.grids = tuple((int(h), int(w)) for h, w in grids)
        self.conv = Integral(reg_max)
        # each cell's centre (x + 0.5, y + 0.5) in its grid's units, row by row, and stride
        cells = [(x + 0.5, y + 0.5, float(s)) for (h, w), s in zip(self.grids, self.strides)
                 for y in range(h) for x in range(w)]
        self.cells = [list(axis) for axis in zip(*cells)]

    def anchors(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each cell's centre, (2, anchors), and its stride, (1, anchors)."""
        def made(rows: list[list[float]]) -> torch.Tensor:
            return torch.tensor(rows, dtype=x.dtype, device=x.device)

        # two tensors: the boxes' product keeps the strides alone for backward
        return made(self.cells[:2]), made(self.cells[2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, a = x.shape
        bins = 4 * self.reg_max
        if c <= bins or a != sum(h * w for h, w in self.grids):
            raise ValueError(f"yolo decoding needs more than {bins} channels and one anchor "
                             f"per grid cell, got {c} x {a}")
        box, scores = x.split((bins, c - bins), 1)
        probs = box.view(n, 4, self.reg_max, a).transpose(2, 1).softmax(1)
        dist = self.conv(probs).view(n, 4, a)
        points, strides = self.anchors(x)
        left_top, right_bottom = dist.chunk(2, 1)
        x1y1 = points - left_top
        x2y2 = points + right_bottom
        boxes = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * strides
        return torch.cat((boxes, scores.sigmoid()), 1)

    def extra_repr(self) -> str:
        return f"reg_max={self.reg_max}, strides={self.strides}, grids={self.grids}"

