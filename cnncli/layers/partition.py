"""MaxViT's attention (Tu et al., 2022, "Multi-Axis Vision Transformer"): multi-head
self-attention within partitions of a map, either blocks of neighbours or a grid of
positions spread over the whole map, so that one block attends locally and the next
globally at the same cost."""

from __future__ import annotations

from typing import Any

from .base import Arg, Calls, Cost, Figure, Layer, Saved, Shape, ShapeError, dot
from .tokens import windowed_saved
from .window import need_map


class PartitionAttention(Layer):
    name = "partition_attention"
    aliases = ("block_attention", "grid_attention")
    summary = ("multi-head self-attention within size x size partitions of a map: blocks of "
               "neighbours, or with grid: true positions H/size and W/size apart (MaxViT); a "
               "learned bias per head for each relative position")
    work = "MACs: the projections and, in each partition, the two products per head"
    counts_macs = True
    autocast = "half"
    weight_args = ("heads", "size", "bias")
    buffer_note = "relative position index"
    time_kind = "conv1x1"
    heads: Arg[int] = Arg("int", min=1, doc="attention heads; they split the C channels")
    size: Arg[int] = Arg("int", 7, min=1, doc="partition side, in positions")
    grid: Arg[bool] = Arg("bool", False, doc="a grid over the whole map, not blocks")
    bias: Arg[bool] = Arg("bool", True, doc="biases on the projections")

    def infer(self, shape: Shape) -> Cost:
        c, h, w = need_map(self.name, shape)
        if c % self.heads:
            raise ShapeError(f"{c} channels do not split into {self.heads} heads")
        if h % self.size or w % self.size:
            raise ShapeError(f"a {h}x{w} map does not split into {self.size}x{self.size} "
                             "partitions (MaxViT's sizes divide the map's)")
        tokens, area = h * w, self.size ** 2
        biases = 4 * c if self.bias else 0
        macs = 4 * tokens * c * c + 2 * tokens * area * c
        scores = self.heads * tokens * area
        other = biases * tokens + tokens * c + scores + 3 * scores  # bias, k's scale, softmax
        window = (h, w) if self.grid else (self.size, self.size)
        return Cost(output=shape, params=4 * c * c + biases + (2 * self.size - 1) ** 2
                    * self.heads, buffers=area * area, buffer_bytes=8 * area * area,
                    macs=macs, other_ops=other, connections=macs + biases * tokens,
                    rf_kernel=window)

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        c, h, w = shape
        s, heads = self.size, self.heads
        bias = f" + 4 · {c}" if self.bias else ""
        where = (f"{s}x{s} positions {h // s} and {w // s} apart" if self.grid
                 else f"{s}x{s} neighbours")
        return [
            Figure("params", f"4 · {c} · {c}{bias} + {2 * s - 1} · {2 * s - 1} · {heads}",
                   cost.params, "the q, k, v and output projections, and a bias per head for "
                   f"each of the {(2 * s - 1) ** 2} relative positions in a partition"),
            Figure("buffers", dot(s * s, s * s), cost.buffers,
                   "which bias each pair of positions in a partition reads (int64)"),
            Figure("MACs", f"4 · {h * w} · {c} · {c} + 2 · {h * w} · {s * s} · {c}", cost.macs,
                   f"the four projections, then in each partition of {where} q·kᵀ and the "
                   f"weighted sum of v: {heads} head(s) of {c // heads} channels"),
            Figure("other ops", f"{4 * c * h * w if self.bias else 0} + {h * w} · {c} + 4 · "
                   f"{dot(heads, h * w, s * s)}", cost.other_ops,
                   "bias adds, k's scale, the position bias added to each score, softmax (3 "
                   "per score)"),
        ]

    def build(self, shape: Shape) -> Any:
        from .modules_tokens import PartitionAttention as Module

        return Module(shape[0], self.heads, self.size, self.grid, self.bias)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """As Swin's window attention's (`windowed_saved`): k is the scaled one here."""
        return windowed_saved(shape[0], shape[1] * shape[2], self.size ** 2, self.heads,
                              trainable)

    def channels_last(self, shape: Shape, channels_last: bool) -> bool:
        """The partitions merged back to NCHW order by a reshape (a copy)."""
        return False

    def calls(self, shape: Shape) -> Calls:
        """Two GEMMs and two batched products, as `attention`'s."""
        return Calls("conv1x1", count=4)
