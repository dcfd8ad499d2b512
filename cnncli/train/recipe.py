"""A run's options: cnncli's defaults, then the spec's `train:` recipe (checked when the spec
was loaded: spec/recipe.py), then the command-line flags the user gave, in that order."""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from ..spec.recipe import Recipe, TrainOptions, check_option


def resolve(recipe: Recipe | None, flags: dict[str, Any]) -> TrainOptions:
    """Defaults, then the spec's recipe, then the flags the user gave (None = not given)."""
    values = dict(recipe.values) if recipe is not None else {}
    for name, value in flags.items():
        if value is None or (name in ("augment", "freeze") and value == ()):
            continue
        try:
            values[name] = check_option(name, value)
        except ValueError as exc:
            raise UsageError(f"--{name.replace('_', '-')}: {exc}") from None
    return TrainOptions(**values)
