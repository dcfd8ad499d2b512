"""Variants: choosing a family file's member, and the words for it.

A family file (`variants:`) named without one is refused with the list to choose from (as
the family's name is), except by `check`, which checks every member; a `variant:` line that
overrides a value also written at the top level warns where; `--sweep` values carry their
option into the messages about them.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import SpecError, did_you_mean, tell, yaml_repr
from .yamlsrc import YList, YMap, read_yaml_file


class Swept(str):
    """A `--sweep` value: applied as `--set` is, with errors that name `--sweep`."""

    option = "--sweep"


def members(ref: str) -> list[str]:
    """A family file named without a variant (and with no `variant:` line) as FILE:VARIANT
    for each variant, for `check`; any other reference as itself (its errors come when it
    is loaded)."""
    if not ref.endswith((".yaml", ".yml")) or not os.path.isfile(ref):
        return [ref]
    try:
        data = read_yaml_file(ref)
    except SpecError:
        return [ref]
    variants = data.get("variants") if isinstance(data, YMap) else None
    if not isinstance(variants, YMap) or len(variants) < 2 or "variant" in data:
        return [ref]
    return [f"{ref}:{name}" for name in variants]


def variant_of(file: str, variant: str) -> str:
    """`variant` if the family file has it, else a SpecError naming the ones it has."""
    data = read_yaml_file(file)
    variants = data.get("variants") if isinstance(data, YMap) else None
    if isinstance(data, YMap) and "variants" in data and not isinstance(variants, YMap):
        raise SpecError("variants must be a mapping of variant name: {description, params, "
                        "input}", data.mark_of("variants"))
    if not isinstance(variants, YMap) or variant not in variants:
        known = ", ".join(variants) if isinstance(variants, YMap) else "none"
        raise SpecError(f"{file} has no variant {variant!r}"
                        f"{did_you_mean(variant, variants or ())}; its variants: {known}")
    return variant


def only_variant(data: YMap, ref: str) -> str | None:
    """The one variant of a family file; a SpecError asking which, when it has several."""
    names = list(data.get("variants") or ())
    if len(names) > 1:
        raise SpecError(f"{ref!r} could be any of {', '.join(names)}; name one of them as "
                        f"{ref}:{names[0]}")
    return names[0] if names else None


def warn_overridden(data: YMap, variant: str) -> None:
    """Warn where the file's own `variant:` line overrides a top-level value it also sets."""
    own = (data["variants"][variant] or {}).get("params") or {}
    top = data.get("params") or {}
    for key, value in own.items():
        if key in top and plain(top[key]) != plain(value):
            tell("warning", f"{top.key_marks[key]}: {key} {yaml_repr(plain(top[key]))} is "
                 f"overridden by variant {variant}'s {yaml_repr(plain(value))} (at "
                 f"{own.value_marks[key]}), as `variant: {variant}` selects it; edit that "
                 "value, or remove the `variant:` line")


def plain(value: Any) -> Any:
    if isinstance(value, (YList, list)):
        return [plain(v) for v in value]
    return value
