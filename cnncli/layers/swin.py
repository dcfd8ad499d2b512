"""The Swin Transformer's layers (Liu et al., 2021): multi-head self-attention within
non-overlapping windows of a map, shifted by half a window every other block, and the
patch merging that halves a map's size between stages. Both work on C x H x W maps, laid
out channels-last as torchvision's Swin keeps them."""

from __future__ import annotations

import math
from typing import Any

from .base import Arg, ArgError, Calls, Cost, Figure, Layer, Saved, Shape, ShapeError, dot
from .tokens import windowed_saved
from .window import need_map


class WindowAttention(Layer):
    name = "window_attention"
    aliases = ("shifted_window_attention",)
    summary = ("multi-head self-attention within each window x window patch of a map, the "
               "windows shifted by `shift` (Swin); a learned bias per head for each relative "
               "position in a window")
    work = "MACs: the projections and, in each window, the two products per head"
    counts_macs = True
    autocast = "half"
    weight_args = ("heads", "window", "bias")
    buffer_note = "Swin's relative position index"
    time_kind = "conv1x1"
    heads: Arg[int] = Arg("int", min=1, doc="attention heads; they split the C channels")
    window: Arg[int] = Arg("int", 7, min=1, doc="window side, in positions")
    shift: Arg[int] = Arg("int", 0, min=0, doc="the windows' shift (below the window)")
    bias: Arg[bool] = Arg("bool", True, doc="biases on the projections")

    def validate(self) -> None:
        if self.shift >= self.window:
            raise ArgError(f"shift {self.shift} must be below the window {self.window}")

    def padded(self, shape: Shape) -> tuple[int, int]:
        """H and W padded to whole windows."""
        w = self.window
        return math.ceil(shape[1] / w) * w, math.ceil(shape[2] / w) * w

    def shifted(self, shape: Shape) -> bool:
        """Rolled and masked: a shift, along an axis longer than one window."""
        return self.shift > 0 and max(self.padded(shape)) > self.window

    def infer(self, shape: Shape) -> Cost:
        c, _, _ = need_map(self.name, shape)
        if c % self.heads:
            raise ShapeError(f"{c} channels do not split into {self.heads} heads")
        ph, pw = self.padded(shape)
        tokens, area = ph * pw, self.window ** 2
        biases = 4 * c if self.bias else 0
        macs = 4 * tokens * c * c + 2 * tokens * area * c
        scores = self.heads * tokens * area
        # biases, q's scale, the position bias (and the mask) added, softmax's 3 per score
        other = biases * tokens + tokens * c + (2 if self.shifted(shape) else 1) * scores \
            + 3 * scores
        table = (2 * self.window - 1) ** 2 * self.heads
        return Cost(output=shape, params=4 * c * c + biases + table, buffers=area * area,
                    buffer_bytes=8 * area * area, macs=macs, other_ops=other,
                    connections=macs + biases * tokens,
                    rf_kernel=(min(self.window, ph), min(self.window, pw)))

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        c, w, h = shape[0], self.window, self.heads
        ph, pw = self.padded(shape)
        bias = f" + 4 · {c}" if self.bias else ""
        padded = "" if (ph, pw) == shape[1:] else f" (padded from {shape[1]}x{shape[2]})"
        return [
            Figure("params", f"4 · {c} · {c}{bias} + {2 * w - 1} · {2 * w - 1} · {h}",
                   cost.params,
                   "the q, k, v and output projections, and a bias per head for each of the "
                   f"{(2 * w - 1) ** 2} relative positions in a {w}x{w} window"),
            Figure("buffers", dot(w * w, w * w), cost.buffers,
                   "which bias each pair of positions in a window reads (int64)"),
            Figure("MACs", f"4 · {ph * pw} · {c} · {c} + 2 · {ph * pw} · {w * w} · {c}",
                   cost.macs, f"the four projections of {ph}x{pw} positions{padded}, then "
                   f"in each {w}x{w} window q·kᵀ and the weighted sum of v: {h} head(s) of "
                   f"{c // h} channels"),
            Figure("other ops", self._other_formula(shape), cost.other_ops,
                   "bias adds, q's scale, the position bias"
                   + (" and the shift's mask" if self.shifted(shape) else "")
                   + " added to each score, softmax (3 per score)"),
        ]

    def _other_formula(self, shape: Shape) -> str:
        c, (ph, pw) = shape[0], self.padded(shape)
        tokens, scores = ph * pw, dot(self.heads, ph * pw, self.window ** 2)
        adds = 2 if self.shifted(shape) else 1
        bias = f"4 · {c} · {tokens} + " if self.bias else ""
        return f"{bias}{tokens} · {c} + {adds + 3} · {scores}"

    def build(self, shape: Shape) -> Any:
        from .modules_tokens import WindowAttention as Module

        return Module(shape[0], self.heads, self.window, self.shift, self.bias)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """What its math keeps (`modules_tokens.WindowAttention`), per window as for
        `attention`: q scaled, k and v (copies, or views of the q, k, v projection's
        output where the batch is one and so is the window, or the heads are one), the
        softmax's output; where its weights train, also the windows it projects (a copy:
        torch's pad copies even where it pads nothing) and the heads' outputs for the
        output projection."""
        ph, pw = self.padded(shape)
        return windowed_saved(shape[0], ph * pw, self.window ** 2, self.heads, trainable)

    def channels_last(self, shape: Shape, channels_last: bool) -> bool:
        return True

    def calls(self, shape: Shape) -> Calls:
        """Two GEMMs and two batched products, as `attention`'s."""
        return Calls("conv1x1", count=4)


class PatchMerge(Layer):
    name = "patch_merge"
    aliases = ("patch_merging",)
    summary = ("each 2x2 patch's four positions side by side as 4C channels (Swin's patch "
               "merging, before its norm and reduction); odd sizes padded")
    work = "none (a copy)"

    def infer(self, shape: Shape) -> Cost:
        c, h, w = need_map(self.name, shape)
        return Cost(output=(4 * c, math.ceil(h / 2), math.ceil(w / 2)), rf_kernel=(2, 2),
                    rf_stride=(2, 2))

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        return [Figure("output channels", dot(4, shape[0]), cost.output[0],
                       "the 2x2 patch's positions (0, 0), (1, 0), (0, 1), (1, 1) side by side: "
                       "a copy, no arithmetic")]

    def build(self, shape: Shape) -> Any:
        from .modules_tokens import PatchMerge as Module

        return Module()

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """A concatenation of slices keeps nothing."""
        return []

    def channels_last(self, shape: Shape, channels_last: bool) -> bool:
        return True
