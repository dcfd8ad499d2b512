"""Training options: their fields, defaults and checks, and a spec's `train:` section read
into them when the spec is loaded (so `summary`, `check` and `train` agree on it).

Free of torch, so a bad option fails the static commands too, located in the spec.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..errors import SpecError, did_you_mean
from ..records import Frozen, Record
from .yamlsrc import YMap

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "cosine", "onecycle")
FITS = ("pad", "resize", "crop")
AUGMENTS = ("crop", "flip")
NO_AUGMENT = "none"  # the command line's way to turn the spec's augmentation off
DEVICES = ("auto", "cpu", "cuda", "mps")
#: where and how a run happens, not what it learns: command-line only, never in a spec
MACHINE_OPTIONS = ("out", "data_dir", "device", "workers", "compile")


class Option(Frozen):
    """What one training option accepts, and its default: declared once, as the class
    attribute of its TrainOptions field."""

    default: Any
    kind: type  # bool, int, float, str or tuple (a list, read by `parse`)
    optional: bool  # None is allowed
    low: int  # smallest whole number
    below_one: bool  # a fraction: must stay under 1
    positive: bool  # a number that must not be 0
    choices: tuple[str, ...]
    parse: Callable[[Any], tuple[str, ...]] | None  # a list option's own reader

    def __init__(self, default: Any, kind: type, optional: bool = False, low: int = 1,
                 below_one: bool = False, positive: bool = False, choices: tuple[str, ...] = (),
                 parse: Callable[[Any], tuple[str, ...]] | None = None) -> None:
        self._set(default=default, kind=kind, optional=optional, low=low, below_one=below_one,
                  positive=positive, choices=choices, parse=parse)


def _parse_augment(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ValueError("augment is a list of crop, flip")
    items = [str(i).strip() for i in items if str(i).strip() not in ("", NO_AUGMENT)]
    for item in items:
        if item not in AUGMENTS:
            raise ValueError(f"augment {item!r} is not one of {', '.join(AUGMENTS)}"
                             f"{did_you_mean(item, AUGMENTS)}")
    return tuple(items)


def _parse_freeze(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(
            isinstance(i, str) and i.strip() for i in items):
        raise ValueError("freeze is a list of layer path patterns, or backbone")
    return tuple(i.strip() for i in items)


def _opt(default: Any, kind: type, **checks: Any) -> Any:
    """An option's declaration (typed Any: on a TrainOptions object the field is its value)."""
    return Option(default, kind, **checks)


class TrainOptions(Record):
    """The options of a training run, by keyword; those not given take their default. On
    the class, each field is its `Option` (OPTIONS lists them); on an object, its value."""

    data: str | None = _opt(None, str, optional=True)
    data_dir: str | None = _opt(None, str, optional=True)
    fit: str | None = _opt(None, str, optional=True, choices=FITS)
    epochs: int = _opt(10, int)
    batch_size: int = _opt(64, int)
    optimizer: str = _opt("sgd", str, choices=OPTIMIZERS)
    lr: float = _opt(0.01, float, positive=True)
    momentum: float = _opt(0.9, float, below_one=True)
    nesterov: bool = _opt(False, bool)
    weight_decay: float = _opt(0.0, float)
    schedule: str = _opt("none", str, choices=SCHEDULES)
    warmup: float = _opt(0.0, float)  # epochs of linear warm-up
    step_size: int = _opt(10, int)  # epochs between decays for schedule "step"
    gamma: float = _opt(0.1, float, positive=True)
    label_smoothing: float = _opt(0.0, float, below_one=True)
    clip_grad: float | None = _opt(None, float, optional=True, positive=True)
    early_stop: int | None = _opt(None, int, optional=True)  # epochs without a better val acc
    val_split: float | None = _opt(None, float, optional=True, below_one=True, positive=True)
    augment: tuple[str, ...] = _opt((), tuple, parse=_parse_augment)
    crop_padding: int = _opt(4, int, low=0)
    seed: int = _opt(0, int, low=0)
    deterministic: bool = _opt(False, bool)
    device: str = _opt("auto", str, choices=DEVICES)
    amp: bool = _opt(False, bool)
    channels_last: bool | None = _opt(None, bool, optional=True)  # None: on for CUDA
    compile: bool = _opt(False, bool)
    workers: int = _opt(2, int, low=0)
    out: str | None = _opt(None, str, optional=True)
    # pretrained weights: torchvision, imagenet or a path
    weights: str | None = _opt(None, str, optional=True)
    # layer path globs kept fixed, or "backbone"
    freeze: tuple[str, ...] = _opt((), tuple, parse=_parse_freeze)
    # learning rate of all but the classifier
    lr_backbone: float | None = _opt(None, float, optional=True, positive=True)

    def __init__(self, **values: Any) -> None:
        for name in values:
            if name not in OPTIONS:
                raise TypeError(f"TrainOptions has no option {name!r}")
        for name, option in OPTIONS.items():
            setattr(self, name, values.get(name, option.default))

    def to_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        out["augment"] = list(self.augment)
        out["freeze"] = list(self.freeze)
        return out


#: each option's default, declared type and checks, by field name, in declaration order
OPTIONS: dict[str, Option] = {name: value for name, value in vars(TrainOptions).items()
                              if isinstance(value, Option)}


def check_option(name: str, value: Any) -> Any:
    """Validate one option value; raise ValueError with a plain reason."""
    option = OPTIONS[name]
    if value is None and option.optional:
        return None
    if option.parse:
        return option.parse(value)
    if option.choices:
        if value not in option.choices:
            raise ValueError(f"{name} must be one of {', '.join(option.choices)}, got {value!r}"
                             f"{did_you_mean(str(value), option.choices)}")
        return value
    if option.kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return value
    if option.kind is int:
        return _check_int(name, value, option)
    if option.kind is float:
        return _check_float(name, value, option)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {value!r}")
    return value


def _check_int(name: str, value: Any, option: Option) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < option.low:
        raise ValueError(f"{name} must be at least {option.low}, got {value}")
    return value


def _check_float(name: str, value: Any, option: Option) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    if option.below_one and value >= 1:
        raise ValueError(f"{name} must be below 1, got {value}")
    if option.positive and value == 0:
        raise ValueError(f"{name} must be above 0")
    return float(value)


class Recipe(Frozen):
    """A spec's `train:` section, checked: the options it sets, by field name, as typed values."""

    values: dict[str, Any]

    def __init__(self, values: dict[str, Any] | None = None) -> None:
        self._set(values={} if values is None else values)

    def given(self, name: str) -> bool:
        """Does the spec set this option (written batch_size or batch-size)?"""
        return name in self.values

    def options(self) -> TrainOptions:
        """cnncli's defaults with the spec's values on top."""
        return TrainOptions(**self.values)


def parse_recipe(recipe: Any) -> Recipe:
    """The spec's `train:` mapping as checked option values, errors located in the spec."""
    if recipe is None:
        return Recipe()
    if not isinstance(recipe, YMap):
        raise SpecError("train must be a mapping of option: value", getattr(recipe, "mark", None))
    values = {}
    for key, value in recipe.items():
        name = key.replace("-", "_")
        if name in MACHINE_OPTIONS:
            raise SpecError(f"{key} belongs to the machine, not the spec: give it on the "
                            f"command line (--{name.replace('_', '-')})", recipe.key_marks[key])
        if name not in OPTIONS:
            allowed = [n for n in OPTIONS if n not in MACHINE_OPTIONS]
            raise SpecError(f"unknown training option {key!r}{did_you_mean(name, allowed)}",
                            recipe.key_marks[key])
        try:
            values[name] = check_option(name, value)
        except ValueError as exc:
            raise SpecError(f"train: {exc}", recipe.mark_of(key)) from None
    return Recipe(values)
