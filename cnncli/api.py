"""The library's plain-function face: what the CLI does, callable from Python.

`analyze` and `load` are static (no torch); `build`, `verify`, `export` and `train` import
torch on first use, so `import cnncli` stays fast. Library calls print nothing: cnncli's
notes and warnings are `warnings` (`CnncliNote`, `CnncliWarning`), training's progress is
shown only when asked for. docs/api.md has runnable examples.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .analysis import report  # noqa: F401  (gives Analysis its table())
from .analysis.analyze import Analysis, analyze
from .spec.ir import Network
from .spec.load import load
from .spec.recipe import OPTIONS, TrainOptions

if TYPE_CHECKING:  # the torch side, imported by the functions that need it
    import torch

    from .model.build import CnnModel
    from .model.export import ExportResult
    from .model.verify import Verification
    from .train.run import TrainResult

__all__ = ["Analysis", "TrainOptions", "analyze", "build", "export", "load", "train", "verify"]

Spec = str | Network  # a spec file, a zoo name (`resnet50`, `FILE:variant`) or a Network
Shape = str | tuple[int, ...]  # an input shape: "3x32x32" or (3, 32, 32)


def build(spec: Spec, overrides: Mapping[str, Any] | None = None, input: Shape | None = None,
          init: str | None = None, device: str | torch.device | None = None,
          weights: str | None = None) -> CnnModel:
    """The torch model of a spec: `cnncli.build("resnet50", weights="torchvision")`.

    `overrides` set spec parameters (as `--set`), `input` replaces the input shape, `init`
    picks auto, kaiming, xavier or torch initialisation, `device` "meta" allocates nothing,
    `weights` loads torchvision's (or imagenet) weights or a .pth/checkpoint file.
    """
    from .model.build import build as build_model

    return build_model(spec, overrides=overrides, input=input, init=init, device=device,
                       weights=weights)


def verify(spec: Spec, overrides: Mapping[str, Any] | None = None, input: Shape | None = None,
           batch: int = 1, device: str = "meta") -> Verification:
    """Build the model, run it once and compare each layer with the analysis (as `cnncli
    verify`): `.ok` is True when shapes, params, buffers and FLOPs all agree, and
    `.first_disagreement()` names the first that does not."""
    from .model.verify import verify as verify_spec

    return verify_spec(spec, overrides=overrides, input=input, batch=batch, device=device)


def export(model: CnnModel | Spec, path: str, format: str | None = None, *,
           force: bool = False) -> ExportResult:
    """Write a model (or a spec's fresh model) as pt2, onnx or torchscript, then reload and
    check the file (as `cnncli export`). `format` defaults to the one `path`'s extension
    names; an existing file needs `force`."""
    from .model.build import build as build_model
    from .model.export import check_target, format_for
    from .model.export import export as export_model

    fmt = format_for(path, format)
    check_target(path, force)  # before the build
    if isinstance(model, (str, Network)):
        model = build_model(model)
    return export_model(model, path, fmt, force=force)


def train(spec: Spec, *, data: str | None = None, data_dir: str | None = None,
          epochs: int | None = None, batch_size: int | None = None, lr: float | None = None,
          optimizer: str | None = None, device: str | None = None, seed: int | None = None,
          out: str | None = None, weights: str | None = None, freeze: tuple[str, ...] = (),
          options: TrainOptions | None = None, overrides: Mapping[str, Any] | None = None,
          input: Shape | None = None, resume: str | None = None, force: bool = False,
          progress: bool = False) -> TrainResult:
    """Train a spec as `cnncli train` does and return the run's `TrainResult` (its folder,
    best accuracy and epoch, one metrics record per epoch).

    Values come from cnncli's defaults, then the spec's `train:` recipe, then what is given
    here: the keywords, and the fields of `options` that differ from TrainOptions' defaults
    (for the rest: schedule, augment, amp, ...). `resume` continues a run (its folder or
    last.pt); `progress` prints the run's report on stdout as the CLI does.
    """
    from .train.run import run_training

    flags = _given(options)
    keywords = {"data": data, "data_dir": data_dir, "epochs": epochs,
                "batch_size": batch_size, "lr": lr, "optimizer": optimizer, "device": device,
                "seed": seed, "out": out, "weights": weights, "freeze": tuple(freeze)}
    flags.update({k: v for k, v in keywords.items() if v is not None and v != ()})
    return run_training(spec, dict(overrides or {}), input, flags, resume, force,
                        report=progress)


def _given(options: TrainOptions | None) -> dict[str, Any]:
    """Every TrainOptions field as a flag: None where `options` keeps the default."""
    default = TrainOptions()
    flags: dict[str, Any] = {}
    for name in OPTIONS:
        value = getattr(options, name) if options is not None else None
        flags[name] = value if options is not None and value != getattr(default, name) \
            else None
    return flags
