"""Random but learnable images, for trying a network without any data."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...errors import UsageError
from ...layers import shape_text
from .. import SPLITS
from .imageset import ImageSet


def synthetic(n: int = 2048, shape: tuple[int, ...] = (1, 28, 28), classes: int = 10,
              seed: int = 0, split: str = "train") -> ImageSet:
    """Random but learnable images: each class is a smooth mean pattern plus pixel noise.

    The patterns depend on `seed` alone and the samples on (seed, split), so the train and
    test splits of one seed share their classes.
    """
    if len(shape) != 3 or min(shape) < 1:
        raise UsageError(f"synthetic images need a CxHxW input, not {shape_text(shape)}")
    if n < 1 or classes < 1:
        raise UsageError(f"synthetic data needs at least one image and one class, got {n} "
                         f"images of {classes} classes")
    c, h, w = shape
    patterns_gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(classes, c, 4, 4, generator=patterns_gen) * 160 + 48
    # smooth 4x4 patterns: distinct per class, and still there after resizing or cropping
    patterns = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    sample_gen = torch.Generator().manual_seed(seed * 2 + SPLITS.index(split) + 1)
    labels = (torch.arange(n) % classes)[torch.randperm(n, generator=sample_gen)]
    noise = torch.randn(n, c, h, w, generator=sample_gen) * 24
    images = (patterns[labels] + noise).round_().clamp_(0, 255).to(torch.uint8)
    return ImageSet(images, labels, [str(i) for i in range(classes)], "synthetic")
