"""cnncli: exact architecture figures for CNNs written as YAML specs, and their torch models.

The folders follow the data flow: spec (text to IR), layers (the registry), analysis (the
static walk), model (torch), train, commands (the CLI); api is the library's face
(`cnncli.analyze`, `load`, `build`), errors the located errors every part raises, files
the one atomic file write, __main__ `python -m cnncli`."""

from __future__ import annotations

__version__ = "0.1.0"

from .api import analyze, build, load  # noqa: E402
from .errors import CnncliError, SpecError, UsageError  # noqa: E402

__all__ = ["analyze", "build", "load", "CnncliError", "SpecError", "UsageError", "__version__"]
