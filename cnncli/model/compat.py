"""The torch APIs that differ between the releases cnncli supports, in one place.

Other modules call these rather than torch directly wherever an API was added, moved,
changed its arguments or is deprecated within the range pyproject.toml claims: the FLOP
counter, the default-device context, safe loading, AMP, torch.compile, torch.export,
TorchScript and the ONNX exporter. `bench/torch_matrix.py` runs the suite on the oldest and
the newest release.
"""

from __future__ import annotations

import inspect
import re
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

VERSION: tuple[int, int] = tuple(  # type: ignore[assignment]
    int(part) for part in re.match(r"(\d+)\.(\d+)", torch.__version__).groups())  # type: ignore[union-attr]


def on_device(device: str | torch.device) -> AbstractContextManager[Any]:
    """Create tensors and modules on `device` by default inside the block."""
    return torch.device(device)


# -- counting ------------------------------------------------------------------------------

def flop_counter(model: nn.Module) -> FlopCounterMode:
    """A silent FlopCounterMode that attributes FLOPs to `model`'s submodules.

    torch 2.2 and 2.3 attribute only to modules passed as `mods`; later releases (2.4 on,
    by their notes; 2.13 and 2.15 checked) do it themselves and warn when given `mods`.
    """
    if VERSION < (2, 4):
        return FlopCounterMode(model, display=False)
    return FlopCounterMode(display=False)


def flops_by_module(counter: FlopCounterMode, model: nn.Module) -> dict[str, int]:
    """FLOPs per submodule path ('layer1.0.conv1'); keys are '<RootClass>.<path>' in torch."""
    prefix = type(model).__name__ + "."
    return {key[len(prefix):]: sum(per_op.values())
            for key, per_op in counter.get_flop_counts().items() if key.startswith(prefix)}


# -- files -----------------------------------------------------------------------------------

def load_tensors(path: str | Path) -> Any:
    """torch.load that runs no code from the file (weights_only), onto the CPU."""
    return torch.load(path, map_location="cpu", weights_only=True)


def refused_global(error: Exception) -> str | None:
    """The class or function a weights_only load refused ('posix.system'), if that is why
    it failed: 'GLOBAL posix.system' in recent torch, 'Unsupported class posix.system' in
    2.2."""
    found = re.search(r"(?:GLOBAL|Unsupported class) ([\w.]+)", str(error))
    return found.group(1).rstrip(".") if found else None


# -- training ------------------------------------------------------------------------------

def grad_scaler() -> Any:
    """A CUDA gradient scaler for float16 AMP (torch.amp from 2.3, torch.cuda.amp before)."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()


def autocast(device: torch.device, dtype: torch.dtype | None) -> AbstractContextManager[Any]:
    """Mixed precision in `dtype` on `device`; a no-op when dtype is None."""
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def compile_module(module: nn.Module) -> nn.Module:
    return torch.compile(module)  # type: ignore[return-value]


# -- export ----------------------------------------------------------------------------------

def _dynamic_batch() -> dict[str, Any]:
    """dynamic_shapes for forward(x): dimension 0 of x is the batch, any size."""
    return {"x": {0: torch.export.Dim("batch")}}


def export_program(model: nn.Module, example: torch.Tensor) -> Any:
    """A torch.export ExportedProgram of model(x) whose batch axis (dimension 0) is dynamic."""
    return torch.export.export(model, (example,), dynamic_shapes=_dynamic_batch())


def save_program(program: Any, path: Path) -> None:
    """torch.export.save through an open file: a path not ending in .pt2 (our temporary
    name) would make torch log a complaint."""
    with path.open("wb") as handle:
        torch.export.save(program, handle)


def load_program(path: Path) -> nn.Module:
    """The reloaded program as a callable module."""
    with path.open("rb") as handle:
        return torch.export.load(handle).module()


def trace_and_save(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    """TorchScript by tracing (deprecated in recent torch; see torchscript_deprecated)."""
    torch.jit.trace(model, example).save(str(path))


def load_script(path: Path) -> nn.Module:
    return torch.jit.load(str(path))


def torchscript_deprecated(caught: list[warnings.WarningMessage]) -> bool:
    """Whether torch warned, among `caught`, that torch.jit is deprecated or unsupported."""
    return any(issubclass(w.category, (DeprecationWarning, FutureWarning))
               and "torch.jit" in str(w.message)
               and ("deprecated" in str(w.message) or "not supported" in str(w.message))
               for w in caught)


def onnx_export(model: nn.Module, example: torch.Tensor, path: Path,
                outputs: tuple[str, ...] = ("output",)) -> None:
    """ONNX with a dynamic batch axis: the dynamo exporter (torch 2.5+), else the tracer;
    one graph output per name of `outputs`."""
    names = {"input_names": ["input"], "output_names": list(outputs), "verbose": False}
    if {"dynamo", "dynamic_shapes", "external_data"} <= set(
            inspect.signature(torch.onnx.export).parameters):
        torch.onnx.export(model, (example,), str(path), dynamic_shapes=_dynamic_batch(),
                          dynamo=True, external_data=False, **names)
    else:  # no constant folding: it would fuse BN into conv and rename the weights
        torch.onnx.export(model, (example,), str(path), do_constant_folding=False,
                          dynamic_axes={name: {0: "batch"} for name in ("input", *outputs)},
                          **names)


@contextmanager
def recorded_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Collect every warning raised inside (none reaches the user); yields the list."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


# -- profiling -----------------------------------------------------------------------------

def profiler_activities(cuda: bool) -> list[Any]:
    """The torch.profiler activities to record: CPU, plus CUDA kernels when on a GPU."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if cuda:
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    return activities


def device_time_us(event: Any) -> float:
    """An averaged profiler event's total GPU time in microseconds (`device_time_total`
    from 2.4; `cuda_time_total` before)."""
    for name in ("device_time_total", "cuda_time_total"):
        value = getattr(event, name, None)
        if value is not None:
            return float(value)
    return 0.0
