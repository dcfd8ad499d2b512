"""Training options: their fields, defaults and checks, and a spec's `train:` section read
into them when the spec is loaded (so `summary`, `check` and `train` agree on it).

Free of torch, so a bad option fails the static commands too, located in the spec.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..errors import SpecError, did_you_mean
from .yamlsrc import YMap

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "cosine", "onecycle")
FITS = ("pad", "resize", "crop")
AUGMENTS = ("crop", "flip")
DEVICES = ("auto", "cpu", "cuda", "mps")
#: where and how a run happens, not what it learns: command-line only, never in a spec
MACHINE_OPTIONS = ("out", "data_dir", "device", "workers", "compile")


@dataclass
class TrainOptions:
    data: str | None = None
    data_dir: str | None = None
    fit: str | None = None
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "none"
    warmup: float = 0.0  # epochs of linear warm-up
    step_size: int = 10  # epochs between decays for schedule "step"
    gamma: float = 0.1
    label_smoothing: float = 0.0
    clip_grad: float | None = None
    early_stop: int | None = None  # epochs without a better validation accuracy
    val_split: float | None = None
    augment: tuple[str, ...] = ()
    crop_padding: int = 4
    seed: int = 0
    deterministic: bool = False
    device: str = "auto"
    amp: bool = False
    channels_last: bool | None = None  # None: on for CUDA
    compile: bool = False
    workers: int = 2
    out: str | None = None
    weights: str | None = None  # pretrained weights: torchvision, imagenet or a path
    freeze: tuple[str, ...] = ()  # layer path globs kept fixed, or "backbone"
    lr_backbone: float | None = None  # learning rate of all but the classifier

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["augment"] = list(self.augment)
        out["freeze"] = list(self.freeze)
        return out


FIELDS = {f.name: f for f in fields(TrainOptions)}


def check_option(name: str, value: Any) -> Any:
    """Validate one option value; raise ValueError with a plain reason."""
    kind = FIELDS[name].type
    if value is None and "None" in str(kind):
        return None
    if name == "augment":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise ValueError("augment is a list of crop, flip")
        items = [str(i).strip() for i in items if str(i).strip() not in ("", "none")]
        for item in items:
            if item not in AUGMENTS:
                raise ValueError(f"augment {item!r} is not one of {', '.join(AUGMENTS)}"
                                 f"{did_you_mean(item, AUGMENTS)}")
        return tuple(items)
    if name == "freeze":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(
                isinstance(i, str) and i.strip() for i in items):
            raise ValueError("freeze is a list of layer path patterns, or backbone")
        return tuple(i.strip() for i in items)
    choices = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "fit": FITS, "device": DEVICES}
    if name in choices:
        if value not in choices[name]:
            raise ValueError(f"{name} must be one of {', '.join(choices[name])}, got {value!r}"
                             f"{did_you_mean(str(value), choices[name])}")
        return value
    if "bool" in str(kind):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return value
    if "int" in str(kind) and "float" not in str(kind):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        low = 0 if name in ("seed", "workers", "crop_padding") else 1
        if value < low:
            raise ValueError(f"{name} must be at least {low}, got {value}")
        return value
    if "float" in str(kind):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if name in ("val_split", "label_smoothing", "momentum") and value >= 1:
            raise ValueError(f"{name} must be below 1, got {value}")
        if name in ("lr", "val_split", "gamma", "clip_grad", "lr_backbone") and value == 0:
            raise ValueError(f"{name} must be above 0")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text, got {value!r}")
    return value


@dataclass(frozen=True)
class Recipe:
    """A spec's `train:` section, checked: the options it sets, by field name, as typed values."""

    values: dict[str, Any] = field(default_factory=dict)

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
        if name not in FIELDS:
            allowed = [n for n in FIELDS if n not in MACHINE_OPTIONS]
            raise SpecError(f"unknown training option {key!r}{did_you_mean(name, allowed)}",
                            recipe.key_marks[key])
        try:
            values[name] = check_option(name, value)
        except ValueError as exc:
            raise SpecError(f"train: {exc}", recipe.mark_of(key)) from None
    return Recipe(values)
