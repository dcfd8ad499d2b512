"""cnncli: exact architecture figures for CNNs written as YAML specs, and their torch models.

The folders follow the data flow: spec (text to IR), layers (the registry), analysis (the
static walk), model (torch), train, commands (the CLI); api is the library's face
(`cnncli.analyze`, `load`, `build`, `verify`, `export`, `train`; see docs/api.md), errors
the located errors and notes every part gives, files the one atomic file write and the
caches, records the plain value classes (cheaper to define than dataclasses), __main__
`python -m cnncli`.

The face is loaded on first use (`cnncli.analyze` imports api then), so the command line,
which imports this package first, starts without the spec and analysis stack: `cnncli
--version` needs none of it.
"""

from __future__ import annotations

import sys
import types
from typing import Any

__version__ = "0.1.0"

#: what `from cnncli import ...` offers, by the module that defines it
_FACE = {**dict.fromkeys(("Analysis", "TrainOptions", "analyze", "build", "export", "load",
                          "train", "verify"), "api"),
         **dict.fromkeys(("CnncliError", "CnncliNote", "CnncliWarning", "SpecError",
                          "UsageError"), "errors")}

__all__ = [*_FACE, "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _FACE:
        raise AttributeError(f"module 'cnncli' has no attribute {name!r}")
    from . import api, errors

    for attr, home in _FACE.items():
        globals()[attr] = getattr(api if home == "api" else errors, attr)
    return globals()[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *_FACE})


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # importing the subpackage cnncli.train binds it here as `train`; the name stays the
        # function's, as `cnncli.train(...)` is the face
        if name == "train" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
