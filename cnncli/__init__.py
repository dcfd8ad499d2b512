"""cnncli: exact architecture figures for CNNs written as YAML specs, and their torch models."""

from __future__ import annotations

__version__ = "0.1.0"

from .api import analyze, build, load  # noqa: E402
from .errors import CnncliError, SpecError, UsageError  # noqa: E402

__all__ = ["analyze", "build", "load", "CnncliError", "SpecError", "UsageError", "__version__"]
