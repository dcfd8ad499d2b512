"""A spec's `torchvision:` section: which torchvision network it mirrors and how to read
that network's published weights.

    torchvision:
      model: resnet50                       # torchvision's name (default: the variant's)
      weights: https://download.pytorch.org/models/resnet50-11ad3fa6.pth
      keys: {'\\.layer_scale\\.scale$': '.layer_scale'}   # ours -> torchvision's (regex)
      file_only: ['^AuxLogits\\.']           # in the weights file, not built by this spec
      resize: 256                           # predict's preprocessing for those weights
      crop: 224
      interpolation: bilinear
      mean: [0.5, 0.5, 0.5]                 # normalisation, if not ImageNet's
      std: [0.5, 0.5, 0.5]

`keys` is only for what a spec cannot name the way torchvision does; the zoo's specs name
their modules as torchvision's wherever the structure allows.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import Mark, SpecError, did_you_mean
from ..records import Frozen
from .yamlsrc import YMap

FIELDS = ("model", "weights", "keys", "file_only", "resize", "crop", "interpolation", "mean",
          "std")
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Torchvision(Frozen):
    """The torchvision network a spec mirrors, and how to read its published weights."""

    model: str
    weights: str | None
    keys: tuple[tuple[str, str], ...]
    file_only: tuple[str, ...]
    resize: int
    crop: int
    interpolation: str
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __init__(self, model: str, weights: str | None = None,
                 keys: tuple[tuple[str, str], ...] = (), file_only: tuple[str, ...] = (),
                 resize: int = 256, crop: int = 224, interpolation: str = "bilinear",
                 mean: tuple[float, ...] = IMAGENET_MEAN,
                 std: tuple[float, ...] = IMAGENET_STD) -> None:
        self._set(model=model, weights=weights, keys=keys, file_only=file_only, resize=resize,
                  crop=crop, interpolation=interpolation, mean=mean, std=std)

    @property
    def file_name(self) -> str | None:
        return self.weights.rsplit("/", 1)[-1] if self.weights else None

    def their_key(self, ours: str) -> str:
        """torchvision's name for one of our state_dict keys."""
        for pattern, replacement in self.keys:
            ours = re.sub(pattern, replacement, ours)
        return ours

    def built_here(self, theirs: str) -> bool:
        """False for keys of the weights file that this spec does not build (aux heads)."""
        return not any(re.search(p, theirs) for p in self.file_only)


def parse_torchvision(raw: Any, mark: Mark, default_model: str) -> Torchvision:
    if not isinstance(raw, YMap):
        raise SpecError("torchvision must be a mapping of " + ", ".join(FIELDS), mark)
    for key in raw:
        if key not in FIELDS:
            raise SpecError(f"torchvision has no field {key!r}{did_you_mean(key, FIELDS)}; its "
                            f"fields: {', '.join(FIELDS)}", raw.key_marks[key])
    values: dict[str, Any] = {"model": default_model}
    for key in ("model", "weights"):
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key].strip():
                raise SpecError(f"torchvision {key} must be text", raw.mark_of(key))
            values[key] = raw[key]
    if "weights" in values and not values["weights"].startswith(("https://", "http://")):
        raise SpecError("torchvision weights must be the URL of the published file",
                        raw.mark_of("weights"))
    for key in ("resize", "crop"):
        if key in raw:
            if isinstance(raw[key], bool) or not isinstance(raw[key], int) or raw[key] < 1:
                raise SpecError(f"torchvision {key} must be a whole number of pixels",
                                raw.mark_of(key))
            values[key] = raw[key]
    if "interpolation" in raw:
        if raw["interpolation"] not in INTERPOLATIONS:
            raise SpecError(f"torchvision interpolation must be one of "
                            f"{', '.join(INTERPOLATIONS)}", raw.mark_of("interpolation"))
        values["interpolation"] = raw["interpolation"]
    for key in ("mean", "std"):
        if key in raw:
            items = raw[key]
            if not isinstance(items, list) or len(items) != 3 or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                    for v in items) or (key == "std" and 0 in items):
                raise SpecError(f"torchvision {key} must be three numbers, one per colour "
                                "channel" + (", none of them 0" if key == "std" else ""),
                                raw.mark_of(key))
            values[key] = tuple(float(v) for v in items)
    if "keys" in raw:
        values["keys"] = _renames(raw["keys"], raw.mark_of("keys"))
    if "file_only" in raw:
        items = raw["file_only"]
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise SpecError("torchvision file_only must be a list of key patterns",
                            raw.mark_of("file_only"))
        for item in items:
            _compile(item, raw.mark_of("file_only"))
        values["file_only"] = tuple(items)
    return Torchvision(**values)


def _renames(raw: Any, mark: Mark) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, YMap) or not all(isinstance(v, str) for v in raw.values()):
        raise SpecError("torchvision keys must map a pattern of our keys to torchvision's "
                        "text, e.g. {'\\.layer_scale\\.scale$': '.layer_scale'}", mark)
    for pattern in raw:
        _compile(pattern, raw.key_marks[pattern])
    return tuple(raw.items())


def _compile(pattern: str, mark: Mark) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise SpecError(f"bad key pattern {pattern!r}: {exc}", mark) from None
