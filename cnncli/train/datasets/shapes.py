"""Synthetic shapes with masks, for trying a segmentation network without any data.

Each image is a noisy background of one random colour with one to three shapes on it (a
circle, a square or a triangle, each of a random colour and size), and its mask holds each
pixel's class: 0 background, 1 circle, 2 square, 3 triangle; a later shape covers an
earlier one. Colours are random, so only the outline tells the classes apart.
"""

from __future__ import annotations

import torch

from ...errors import UsageError
from ...layers import shape_text
from .. import SPLITS
from .imageset import ImageSet

SHAPE_CLASSES = ["background", "circle", "square", "triangle"]
SHAPES_PER_IMAGE = 3  # at most; the first is always drawn
CHUNK = 256  # images generated at a time: bounds the temporary (CHUNK, H, W) masks


def shapes(n: int, shape: tuple[int, ...] = (3, 64, 64), seed: int = 0,
           split: str = "train") -> ImageSet:
    """`n` images of `shape` (1 or 3 channels) and their masks, from (seed, split) alone."""
    if len(shape) != 3 or shape[0] not in (1, 3) or min(shape[1:]) < 8:
        raise UsageError(f"the shapes dataset makes 1- or 3-channel images of at least 8x8, "
                         f"not {shape_text(shape)}")
    generator = torch.Generator().manual_seed(seed * 2 + SPLITS.index(split) + 1)
    c, h, w = shape
    images = torch.empty(n, c, h, w, dtype=torch.uint8)
    masks = torch.empty(n, h, w, dtype=torch.uint8)
    for start in range(0, n, CHUNK):
        count = min(CHUNK, n - start)
        images[start:start + count], masks[start:start + count] = _draw(count, c, h, w,
                                                                        generator)
    return ImageSet(images, masks, list(SHAPE_CLASSES), "shapes")


def _draw(n: int, c: int, h: int, w: int,
          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    def uniform(low: float, high: float, *size: int) -> torch.Tensor:
        return torch.rand(*size, generator=generator) * (high - low) + low

    y = torch.arange(h, dtype=torch.float32)[None, :, None]
    x = torch.arange(w, dtype=torch.float32)[None, None, :]
    background = uniform(0, 255, n, 1, c)
    # far enough from the background in every channel to be seen through the noise
    colours = torch.cat([background, (background + uniform(64, 192, n, SHAPES_PER_IMAGE, c))
                         % 256], 1)  # (n, 1 + shapes, c): layer 0 is the background
    mask = torch.zeros(n, h, w, dtype=torch.uint8)
    layer = torch.zeros(n, h, w, dtype=torch.int64)  # which colour is on top at each pixel
    side = min(h, w)
    for j in range(SHAPES_PER_IMAGE):
        kind = torch.randint(1, len(SHAPE_CLASSES), (n,), generator=generator)
        drawn = torch.ones(n, dtype=torch.bool) if j == 0 else \
            torch.rand(n, generator=generator) < 0.5
        r = uniform(side / 10, side / 4, n)[:, None, None]
        dy = y - uniform(0, h, n)[:, None, None]
        dx = x - uniform(0, w, n)[:, None, None]
        k = kind[:, None, None]
        # a circle; a square; an upright triangle, apex up, as wide as it is tall
        inside = torch.where(k == 1, dy.square() + dx.square() <= r.square(),
                             torch.where(k == 2, (dy.abs() <= r * 0.85) & (dx.abs() <= r * 0.85),
                                         (dy.abs() <= r) & (dx.abs() * 2 <= dy + r)))
        inside &= drawn[:, None, None]
        mask.masked_scatter_(inside, kind.to(torch.uint8)[:, None, None].expand(n, h, w)[inside])
        layer.masked_fill_(inside, 0)
        layer += inside * (j + 1)
    image = colours.gather(1, layer.view(n, h * w, 1).expand(n, h * w, c))
    image = image.view(n, h, w, c).permute(0, 3, 1, 2)
    image = image + torch.randn(n, c, h, w, generator=generator) * 20
    return image.round_().clamp_(0, 255).to(torch.uint8), mask
