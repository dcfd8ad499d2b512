"""Export a spec's model to torch.export (pt2), ONNX or TorchScript, then check the file.

pt2 is a torch.export ExportedProgram (torch.export.save), reloaded with torch.export.load and
run at two batch sizes. ONNX goes through torch.onnx (the optional `onnx` extra: onnx,
onnxscript; onnxruntime if present is used to run the file and compare with torch).
TorchScript is traced, saved, reloaded and compared; on a torch that deprecates it the result
carries a one-line note. Every version-dependent call goes through compat. Files are written
to a temporary name beside the target and renamed, so a failed export leaves nothing
half-written.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import UsageError
from ..files import write_atomically
from . import EXPORT_FORMATS, compat
from .build import CnnModel

TORCHSCRIPT_NOTE = (f"note: torch {torch.__version__} deprecates TorchScript; "
                    "--format pt2 (torch.export) is its replacement")
TOLERANCE = 1e-4  # absolute and relative, as torch.allclose(rtol=1e-4, atol=1e-4)


def _compare(what: str, got: Any, expected: Any) -> float:
    """The largest absolute difference (over every output of a network with several);
    raise if beyond the tolerance."""
    if isinstance(expected, (tuple, list)):
        return max(_compare(what, g, e) for g, e in zip(got, expected, strict=True))
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
    notes: list[str] = field(default_factory=list)  # one line each, for the user


#: the file extensions each format is known by; the first is the one to suggest
EXTENSIONS = {"pt2": (".pt2",), "onnx": (".onnx",), "torchscript": (".pt", ".torchscript")}


def format_for(path: str, fmt: str | None) -> str:
    """The format to write: --format, else the one the file's extension names; a --format
    that contradicts a known extension is refused (a pt2 file named .onnx misleads)."""
    suffix = Path(path).suffix.lower()
    named = next((f for f, exts in EXTENSIONS.items() if suffix in exts), None)
    if fmt is None:
        if named is None:
            known = ", ".join(f"{exts[0]} ({f})" for f, exts in EXTENSIONS.items())
            raise UsageError(f"-o {path}: cannot tell the format from the file name; pass "
                             f"--format pt2, onnx or torchscript, or name the file {known}")
        return named
    if named is not None and named != fmt:
        raise UsageError(f"--format {fmt} does not match -o {path}, which names a {named} "
                         f"file: leave out --format, or name the file "
                         f"{Path(path).with_suffix(EXTENSIONS[fmt][0])}")
    return fmt


def check_target(path: str, force: bool) -> Path:
    """Refuse a target we should not write, before any work is done."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{path} is a folder; give a file name")
    if target.exists() and not force:  # the words of every command that writes a file
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"-o {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"-o {path}: folder {parent} is not writable")
    return target


@contextmanager
def _quiet() -> Iterator[list[warnings.WarningMessage]]:
    """torch.onnx, torch.export and torch.jit log and warn a lot about things that are not
    ours: keep the warnings from the user, and yield them for the few that matter."""
    loggers = [logging.getLogger(name)
               for name in ("torch.onnx", "torch.export", "torch._dynamo", "torch._guards")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with compat.recorded_warnings() as caught:
            yield caught
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def export(model: CnnModel, path: str, fmt: str, force: bool = False) -> ExportResult:
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    target = check_target(path, force)
    model = model.eval()
    generator = torch.Generator().manual_seed(0)
    example = torch.randn(2, *model.input_shape, generator=generator)
    with _quiet() as caught, torch.no_grad():
        if fmt == "pt2":
            return _pt2(model, target, example)
        if fmt == "onnx":
            return _onnx(model, target, example)
        result = _torchscript(model, target, example)
    if compat.torchscript_deprecated(caught):
        result.notes.append(TORCHSCRIPT_NOTE)
    return result


def _pt2(model: CnnModel, target: Path, example: torch.Tensor) -> ExportResult:
    """Export, save, reload, and run the reloaded program at the example's batch and one
    more (the batch axis is dynamic)."""
    wider = torch.cat([example, example[:1]])
    try:
        program = compat.export_program(model, example)
    except Exception as exc:  # torch.export fails in many types; the user gets one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"torch {torch.__version__} could not export the model with a "
                         f"dynamic batch axis: {first}") from None
    diffs: list[float] = []  # the check runs on the file before it takes the target's name

    def write(tmp: Path) -> None:
        compat.save_program(program, tmp)
        reloaded = compat.load_program(tmp)
        diffs.append(max(_compare(f"the reloaded program at batch {len(x)}", reloaded(x),
                                  model(x)) for x in (example, wider)))

    write_atomically(target, write)
    diff = diffs[0]
    return ExportResult(target, "pt2", f"torch.export.load (reloaded, run at batch "
                        f"{len(example)} and {len(wider)})", diff)


def _torchscript(model: CnnModel, target: Path, example: torch.Tensor) -> ExportResult:
    diffs: list[float] = []

    def write(tmp: Path) -> None:
        compat.trace_and_save(model, example, tmp)
        reloaded = compat.load_script(tmp)
        diffs.append(_compare("the reloaded TorchScript model", reloaded(example),
                              model(example)))

    write_atomically(target, write)
    diff = diffs[0]
    return ExportResult(target, "torchscript", "torch.jit.load (reloaded and run)", diff)


def _onnx(model: CnnModel, target: Path, example: torch.Tensor) -> ExportResult:
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as exc:
        raise UsageError(f"ONNX export needs the optional packages onnx and onnxscript "
                         f"({exc.name} is missing): pip install 'cnncli[onnx]'") from None
    diffs: list[float | None] = []

    def write(tmp: Path) -> None:
        compat.onnx_export(model, example, tmp, model.output_names)
        onnx.checker.check_model(str(tmp))
        diffs.append(_onnxruntime_diff(tmp, model, example))

    write_atomically(target, write)
    diff = diffs[0]
    return ExportResult(target, "onnx", "onnx.checker" + (" + onnxruntime" if diff is not None
                                                          else ""), diff)


def _onnxruntime_diff(path: Path, model: CnnModel, example: torch.Tensor) -> float | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: example.numpy()})
    expected = model(example)
    got = [torch.from_numpy(o) for o in outputs]
    return _compare("onnxruntime's output", got if isinstance(expected, tuple) else got[0],
                    expected)
