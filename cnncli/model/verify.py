"""Prove that the torch model built from a spec does what the analysis says, layer by layer.

Output shapes come from forward hooks, FLOPs from torch.utils.flop_counter.FlopCounterMode
(per module, through compat), parameter and buffer counts from the modules themselves. On
the meta device nothing is allocated, so any input size verifies in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..analysis.analyze import Analysis, Row, analyze
from ..layers import shape_text
from . import compat
from .build import build_from_analysis


@dataclass
class Check:
    """One layer: the analyzer's figures beside torch's."""

    path: str
    kind: str
    static: dict[str, Any]
    measured: dict[str, Any]

    def mismatches(self) -> list[str]:
        return [key for key in self.static if self.static[key] != self.measured.get(key)]

    @property
    def ok(self) -> bool:
        return not self.mismatches()


@dataclass
class Verification:
    analysis: Analysis
    device: str
    checks: list[Check]  # per layer, then one for the whole model (path "(model)")

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def first_disagreement(self) -> str | None:
        for check in self.checks:
            for key in check.mismatches():
                return (f"layer {check.path} ({check.kind}): {key} is "
                        f"{_show(check.static[key])} in the analysis but "
                        f"{_show(check.measured.get(key))} in torch")
        return None


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return shape_text(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def _count(tensors: Any) -> int:
    return sum(t.numel() for t in tensors)


def verify(spec: Any, overrides: Mapping[str, Any] | None = None, input: Any = None,
           batch: int = 1, device: str = "meta") -> Verification:
    analysis = analyze(spec, overrides=overrides, input=input, batch=batch)
    return verify_analysis(analysis, device)


def verify_analysis(analysis: Analysis, device: str = "meta") -> Verification:
    model = build_from_analysis(analysis, device=device).eval()
    leaves = [row for row in analysis.root.walk() if row.is_layer]
    shapes: dict[str, tuple[int, ...]] = {}
    handles = [_hook(model.get_submodule(row.path), row.path, shapes) for row in leaves]
    x = torch.zeros(analysis.batch, *analysis.input, device=device)
    try:
        with torch.no_grad(), compat.flop_counter(model) as counter:
            y = model(x)
    finally:
        for handle in handles:
            handle.remove()
    flops = compat.flops_by_module(counter, model)
    counted: set[int] = set()
    checks = [_check(row, model.get_submodule(row.path), shapes, flops, analysis.batch,
                     counted) for row in leaves]
    checks.append(Check(
        path="(model)", kind=analysis.network.name,
        static={"output": _static_outputs(analysis), "params": analysis.root.params,
                "trainable": analysis.root.trainable, "buffers": analysis.root.buffers,
                "flops": analysis.root.flops * analysis.batch},
        measured={"output": _outputs(y), "params": _count(model.parameters()),
                  "trainable": _count(p for p in model.parameters() if p.requires_grad),
                  "buffers": _count(model.buffers()), "flops": counter.get_total_flops()}))
    return Verification(analysis=analysis, device=str(device), checks=checks)


def _static_outputs(analysis: Analysis) -> Any:
    """The output shape, or a tuple of the named outputs' shapes (`outputs:`)."""
    named = analysis.network.outputs
    if named:
        return tuple(tuple(node.output) for node in named.values())
    return tuple(analysis.output)


def _outputs(y: Any) -> Any:
    if isinstance(y, tuple):
        return tuple(tuple(t.shape[1:]) for t in y)
    return tuple(y.shape[1:])


def _hook(module: nn.Module, path: str, shapes: dict[str, tuple[int, ...]]) -> Any:
    def record(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        shapes[path] = tuple(output.shape[1:])

    return module.register_forward_hook(record)


def _check(row: Row, module: nn.Module, shapes: dict[str, tuple[int, ...]],
           flops: dict[str, int], batch: int, counted: set[int]) -> Check:
    """One layer's figures against its module's; a tensor an earlier layer's module holds
    too (a shared weight) counts at that layer only."""
    return Check(
        path=row.path, kind=row.kind,
        static={"output": tuple(row.output), "params": row.params, "buffers": row.buffers,
                "flops": row.flops * batch},
        measured={"output": shapes.get(row.path), "params": _new(module.parameters(), counted),
                  "buffers": _new(module.buffers(), counted), "flops": flops.get(row.path, 0)})


def _new(tensors: Any, counted: set[int]) -> int:
    """Elements of the tensors not counted before (then counted)."""
    fresh = [t for t in tensors if id(t) not in counted]
    counted.update(id(t) for t in fresh)
    return _count(fresh)
