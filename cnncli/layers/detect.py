"""YOLOv8's box decoding (Ultralytics' Detect head at inference): the distribution focal
loss integral (DFL), distances to boxes around each anchor, class scores."""

from __future__ import annotations

from typing import Any

from .base import Arg, ArgError, Cost, Figure, Layer, Saved, Shape, ShapeError, dot, shape_text

#: other ops per anchor of the box arithmetic: anchor − left/top and anchor + right/bottom
#: (2 + 2), the centre's sum and halving (2 + 2), width and height (2), times the stride (4)
BOX_OPS = 14
SOFTMAX_OPS = 3  # per element: exp, sum, divide (as the softmax layer counts them)


class YoloDecode(Layer):
    name = "yolo_decode"
    summary = ("YOLOv8's Detect decoding: (4·reg_max + classes) x anchors to (4 + classes) x "
               "anchors, boxes as x, y, w, h in input pixels and sigmoid class scores")
    work = "MACs (the DFL's fixed 1x1 conv); softmax, box arithmetic and sigmoid as other ops"
    counts_macs = True
    fixed_params = True
    reg_max: Arg[int] = Arg("int", 16, min=1, doc="bins per box side (the DFL's)")
    strides: Arg[tuple[int, ...]] = Arg("ints", min=1, doc="input pixels per cell, per level")
    grids: Arg[tuple[tuple[int, int], ...]] = Arg("sizes", min=1,
                                                  doc="[h, w] of each level's map, in order")

    def validate(self) -> None:
        if len(self.strides) != len(self.grids):
            raise ArgError(f"gives {len(self.strides)} strides for {len(self.grids)} grids; "
                           "one stride per level")

    def anchors(self) -> int:
        return sum(h * w for h, w in self.grids)

    def infer(self, shape: Shape) -> Cost:
        bins = 4 * self.reg_max
        if len(shape) != 2 or shape[0] <= bins or shape[1] != self.anchors():
            raise ShapeError(f"yolo_decode needs (4·reg_max + classes) x anchors, more than "
                             f"{bins} x {self.anchors()} (the grids' cells), but gets "
                             f"{shape_text(shape)}; concat the levels' flattened maps along "
                             "axis -1 before it")
        classes, anchors = shape[0] - bins, shape[1]
        other = SOFTMAX_OPS * bins * anchors + BOX_OPS * anchors + classes * anchors
        return Cost(output=(4 + classes, anchors), params=self.reg_max,
                    macs=bins * anchors, other_ops=other, connections=bins * anchors)

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        bins, anchors = 4 * self.reg_max, shape[1]
        cells = " + ".join(dot(h, w) for h, w in self.grids)
        return [
            Figure("anchors", cells, anchors, "one per cell of each level"),
            Figure("params", str(self.reg_max), cost.params,
                   "the DFL's 1x1 conv, fixed to 0 … reg_max − 1 (not trained)"),
            Figure("MACs", dot(4, self.reg_max, anchors), cost.macs,
                   "the DFL's conv: each side's expected distance over its bins"),
            Figure("other ops", f"{SOFTMAX_OPS} · {bins} · {anchors} + {BOX_OPS} · {anchors}"
                   f" + {shape[0] - bins} · {anchors}", cost.other_ops,
                   "softmax over the bins, box arithmetic, sigmoid of each class score"),
        ]

    def build(self, shape: Shape) -> Any:
        from .modules import YoloDecode as Decode

        return Decode(self.reg_max, self.strides, self.grids)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """The softmax's output (kept by the softmax and by the conv that reads it), the
        class scores' sigmoid output, and the strides the boxes are multiplied by (one
        per anchor, whatever the batch)."""
        bins, anchors = 4 * self.reg_max, shape[1]
        return [Saved("probabilities", bins * anchors),
                Saved("scores", (shape[0] - bins) * anchors),
                Saved("strides", anchors, per_sample=False)]
