"""cnncli: exact architecture figures for CNNs written as YAML specs, and their torch models.

The folders follow the data flow: spec (text to IR), layers (the registry), analysis (the
static walk), model (torch), train, commands (the CLI); api is the library's face
(`cnncli.analyze`, `load`, `build`, `verify`, `export`, `train`; see docs/api.md), errors
the located errors and notes every part gives, files the one atomic file write, __main__
`python -m cnncli`."""

from __future__ import annotations

__version__ = "0.1.0"

# the package cnncli.train first, so that the function below is what `cnncli.train` names
# (importing a package binds it on its parent once, when it is first loaded)
from . import train as _train_package  # noqa: E402, F401
from .api import (  # noqa: E402
    Analysis,
    TrainOptions,
    analyze,
    build,
    export,
    load,
    train,
    verify,
)
from .errors import (  # noqa: E402
    CnncliError,
    CnncliNote,
    CnncliWarning,
    SpecError,
    UsageError,
)

__all__ = ["Analysis", "TrainOptions", "analyze", "build", "export", "load", "train", "verify",
           "CnncliError", "CnncliNote", "CnncliWarning", "SpecError", "UsageError",
           "__version__"]
