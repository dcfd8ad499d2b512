"""Export a spec's model to ONNX or TorchScript, then check the written file.

ONNX goes through torch.onnx (the optional `onnx` extra: onnx, onnxscript; onnxruntime if
present is used to run the file and compare with torch). TorchScript is traced, saved,
reloaded and compared. Files are written to a temporary name beside the target and renamed,
so a failed export leaves nothing half-written.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import UsageError
from .build import CnnModel

FORMATS = ("onnx", "torchscript")
TOLERANCE = 1e-4  # absolute and relative, as torch.allclose(rtol=1e-4, atol=1e-4)


def _compare(what: str, got: torch.Tensor, expected: torch.Tensor) -> float:
    """The largest absolute difference; raise if beyond the tolerance."""
    if not torch.allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE):
        diff = (got - expected).abs().max().item()
        raise UsageError(f"{what} differs from torch by up to {diff:.2e} "
                         f"(tolerance {TOLERANCE:g}, absolute and relative)")
    return (got - expected).abs().max().item()


@dataclass
class ExportResult:
    path: Path
    format: str
    checked_with: str  # what validated the file
    max_abs_diff: float | None  # against torch on a random batch, when it could be run


def check_target(path: str, force: bool) -> Path:
    """Refuse a target we should not write, before any work is done."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"-o {path}: is a folder; give a file name")
    if target.exists() and not force:
        raise UsageError(f"-o {path}: the file exists; pass --force to overwrite it")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"-o {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"-o {path}: folder {parent} is not writable")
    return target


@contextmanager
def _written_atomically(target: Path) -> Iterator[Path]:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it a normal mode
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def _quiet() -> Iterator[None]:
    """torch.onnx and torch.jit log and warn a lot about things that are not ours."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export(model: CnnModel, path: str, fmt: str, force: bool = False) -> ExportResult:
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    target = check_target(path, force)
    model = model.eval()
    generator = torch.Generator().manual_seed(0)
    example = torch.randn(2, *model.input_shape, generator=generator)
    with _quiet(), torch.no_grad():
        if fmt == "onnx":
            return _onnx(model, target, example)
        return _torchscript(model, target, example)


def _torchscript(model: CnnModel, target: Path, example: torch.Tensor) -> ExportResult:
    with _written_atomically(target) as tmp:
        traced = torch.jit.trace(model, example)
        traced.save(str(tmp))
        reloaded = torch.jit.load(str(tmp))
        diff = _compare("the reloaded TorchScript model", reloaded(example), model(example))
    return ExportResult(target, "torchscript", "torch.jit.load (reloaded and run)", diff)


def _onnx(model: CnnModel, target: Path, example: torch.Tensor) -> ExportResult:
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as exc:
        raise UsageError(f"ONNX export needs the optional packages onnx and onnxscript "
                         f"({exc.name} is missing): pip install 'cnncli[onnx]'") from None
    batch = torch.export.Dim("batch")
    with _written_atomically(target) as tmp:
        torch.onnx.export(model, (example,), str(tmp), input_names=["input"],
                          output_names=["output"], dynamic_shapes={"x": {0: batch}},
                          dynamo=True, verbose=False, external_data=False)
        onnx.checker.check_model(str(tmp))
        diff = _onnxruntime_diff(tmp, model, example)
    return ExportResult(target, "onnx", "onnx.checker" + (" + onnxruntime" if diff is not None
                                                          else ""), diff)


def _onnxruntime_diff(path: Path, model: CnnModel, example: torch.Tensor) -> float | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {session.get_inputs()[0].name: example.numpy()})
    return _compare("onnxruntime's output", torch.from_numpy(output), model(example))
