"""An operator of an imported ONNX file that cnncli cannot price or build."""

from __future__ import annotations

from typing import Any

from ..errors import SpecError
from .base import Arg, Cost, Figure, Layer, Saved, Shape


class OnnxOp(Layer):
    name = "onnx_op"
    summary = ("an ONNX operator cnncli cannot price or build (written by cnncli import): "
               "the output shape the file records; its work is unknown, so totals that "
               "include it are marked partial")
    work = "unknown: not counted (the totals say they are partial)"
    priced = False
    op: Arg[str] = Arg("text", doc="the ONNX operator's type, e.g. NonMaxSuppression")
    out: Arg[tuple[int, ...]] = Arg("ints", min=0, doc="its output's shape per sample, as the "
                                                       "file records it")

    def infer(self, shape: Shape) -> Cost:
        return Cost(output=tuple(self.out))

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        return [Figure("other ops", "unknown", 0,
                       f"cnncli does not know the work of ONNX's {self.op}: not counted, and "
                       "the totals are partial")]

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        return []  # unknown, as its work is; the totals say they are partial

    def build(self, shape: Shape) -> Any:
        raise SpecError(f"onnx_op {self.op}: cnncli cannot build this ONNX operator in torch; "
                        "replace the entry with layers that compute it")
