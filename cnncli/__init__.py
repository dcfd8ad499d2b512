"""cnncli: exact architecture figures for CNNs written as YAML specs, and their torch models."""

from __future__ import annotations

__version__ = "0.1.0"

from .api import analyze, load  # noqa: E402
from .errors import CnncliError, SpecError, UsageError  # noqa: E402

__all__ = ["analyze", "build", "load", "CnncliError", "SpecError", "UsageError", "__version__"]


def build(*args, **kwargs):  # type: ignore[no-untyped-def]
    """The torch model of a spec (see cnncli.model.build); imports torch on first use."""
    from .model import build as _build

    return _build(*args, **kwargs)
