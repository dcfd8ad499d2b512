"""The library's plain-function face: everything the CLI does, callable from Python.

`cnncli.analyze`, `cnncli.load` and `cnncli.build` are these; `build` imports torch on first use.
"""

from __future__ import annotations

from typing import Any

from .analysis.analyze import analyze
from .spec.load import load

__all__ = ["analyze", "build", "load"]


def build(*args: Any, **kwargs: Any) -> Any:
    """The torch model of a spec (see cnncli.model.build.build); imports torch on first use."""
    from .model.build import build as _build

    return _build(*args, **kwargs)
