"""A checkpoint's model rebuilt from the spec it carries, with its weights loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..analysis.analyze import analyze_network
from ..spec.snapshot import restore
from . import checkpoint
from .build import build_from_analysis


def model_from(state: dict[str, Any], path: str | Path, device: str = "cpu") -> Any:
    """Rebuild the checkpoint's model from its own spec and load its weights."""
    network = restore(state["spec"])
    model = build_from_analysis(analyze_network(network), init="torch", device=device)
    checkpoint.load_weights(model, state["model"], path)
    return model, network
