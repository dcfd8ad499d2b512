"""Checkpoints: a plain dict of tensors and plain data, never a pickled module.

A checkpoint carries its spec (the text of its files, see spec.snapshot), the options and
data preprocessing it was trained with, the model, optimiser and grad-scaler states, the RNG
state and where in the run it was taken, so `--resume` continues exactly. Files are written
to a temporary name and renamed, and read with `torch.load(weights_only=True)`, which runs
no code from the file.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import UsageError
from ..files import write_atomically
from . import compat

FORMAT = "cnncli.checkpoint/1"


class NotACheckpoint(UsageError):
    """The file is readable but carries no cnncli marker: callers may read it as plain weights."""


@dataclass(frozen=True)
class Mismatch:
    """Why weights do not fit a model. `foreign` ones ("made for another network/shape") read
    after "was"; the others (malformed weights) after a colon."""

    reason: str
    foreign: bool = False

    def __str__(self) -> str:
        return self.reason


def save(state: dict[str, Any], path: str | Path) -> None:
    """Write atomically: a crash mid-write leaves the previous file intact."""
    write_atomically(path, lambda tmp: torch.save({"format": FORMAT, **state}, tmp))


def load(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint safely; every failure is one clear sentence."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint {path} does not exist")
    try:
        state = compat.load_tensors(path)
    except pickle.UnpicklingError as exc:
        found = compat.refused_global(exc)
        if found:  # weights_only met a class or function: loading it could run code
            raise UsageError(f"refusing to load {path}: it asks to load {found}, which "
                             "could run code; a checkpoint holds only tensors and plain data") \
                from None
        raise UsageError(f"{path} is not a readable checkpoint (truncated or corrupt?)") \
            from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UsageError(f"{path} is not a readable checkpoint (truncated or corrupt?): "
                         f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") \
            from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise NotACheckpoint(f"{path} is not a cnncli checkpoint (no {FORMAT!r} marker)")
    for key in ("spec", "model", "data"):
        if key not in state:
            raise UsageError(f"{path} is missing its {key!r} entry")
    return state


def mismatch(own: dict[str, Any], weights: Any) -> Mismatch | None:
    """Why `weights` (a state dict) does not fit a model whose state dict is `own`, or None."""
    if not isinstance(weights, dict):
        return Mismatch("the model weights are malformed")
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    if missing or unexpected:
        detail = f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}"
        return Mismatch(f"made for another network: {len(missing)} weights missing, "
                        f"{len(unexpected)} unexpected ({detail})", foreign=True)
    for key, tensor in own.items():
        if tuple(weights[key].shape) != tuple(tensor.shape):
            return Mismatch(f"made for another shape: {key} is {tuple(weights[key].shape)} "
                            f"there but {tuple(tensor.shape)} in this network", foreign=True)
    return None


def load_weights(model: torch.nn.Module, weights: Any, path: str | Path) -> None:
    """Load a state dict, naming what does not fit instead of torch's long report."""
    problem = mismatch(model.state_dict(), weights)
    if problem:
        raise UsageError(f"{path} was {problem}" if problem.foreign else
                         f"{path}: {problem}")
    model.load_state_dict(weights)
