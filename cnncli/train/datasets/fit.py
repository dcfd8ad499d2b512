"""Fitting images to a spec's input (pad, crop, resize, channels) and their statistics."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...errors import UsageError
from ...layers import shape_text
from ...spec.recipe import FITS

BATCH_ELEMENTS = 1 << 22  # images per batch in fit_images/normalize_stats: ~4M values at a time


LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as Pillow's convert("L")


def fit_images(images: torch.Tensor, shape: tuple[int, ...], mode: str | None) -> torch.Tensor:
    """uint8 (N, C, H, W) adapted to a spec's (C, H, W): zero padding, centre crop or resize
    (bilinear), with 1 -> 3 channels by repetition and 3 -> 1 by luma. Unchanged if it fits."""
    c, h, w = image_shape(shape)
    n, c0, h0, w0 = images.shape
    if (c0, h0, w0) == (c, h, w):
        return images
    have, want = shape_text((c0, h0, w0)), shape_text((c, h, w))
    if mode is None:
        raise UsageError(f"the images are {have} but the spec takes {want}; pass --fit pad, "
                         "resize or crop to adapt them")
    if mode not in FITS:
        raise UsageError(f"--fit must be one of {', '.join(FITS)}, not {mode!r}")
    if c0 != c and (c0, c) not in ((1, 3), (3, 1)):
        raise UsageError(f"the images have {c0} channels and the spec takes {c}; only 1 <-> 3 "
                         "channels can be converted")
    if mode == "pad" and (h0 > h or w0 > w):
        raise UsageError(f"--fit pad: the images ({have}) are larger than the spec's input "
                         f"({want}); use --fit crop or resize")
    if mode == "crop" and (h0 < h or w0 < w):
        raise UsageError(f"--fit crop: the images ({have}) are smaller than the spec's input "
                         f"({want}); use --fit pad or resize")
    out = torch.empty((n, c, h, w), dtype=torch.uint8)
    step = max(1, BATCH_ELEMENTS // (max(c0, c) * max(h0, h) * max(w0, w)))
    for start in range(0, n, step):
        batch = images[start:start + step]
        if c0 == 3 and c == 1:  # fewer channels first: less to resize
            batch = _to_grey(batch)
        batch = _fit_space(batch, h, w, mode)
        out[start:start + step] = batch  # 1 -> 3 channels broadcasts here
    return out


def _fit_space(batch: torch.Tensor, h: int, w: int, mode: str) -> torch.Tensor:
    h0, w0 = batch.shape[-2:]
    if (h0, w0) == (h, w):
        return batch
    if mode == "pad":
        top, left = (h - h0) // 2, (w - w0) // 2
        return F.pad(batch, (left, w - w0 - left, top, h - h0 - top))
    if mode == "crop":
        top, left = (h0 - h) // 2, (w0 - w) // 2
        return batch[..., top:top + h, left:left + w]
    shrink = h < h0 or w < w0  # antialias only when shrinking, as Pillow's resize does
    x = F.interpolate(batch.float(), size=(h, w), mode="bilinear", align_corners=False,
                      antialias=shrink)
    return x.round_().clamp_(0, 255).to(torch.uint8)


def _to_grey(batch: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(LUMA, dtype=torch.float32)[None, :, None, None]
    grey = (batch.float() * weights).sum(1, keepdim=True)
    return grey.round_().clamp_(0, 255).to(torch.uint8)


def image_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise UsageError(f"the spec takes a flat input of {shape_text(shape)} values; "
                         "image data needs a CxHxW input")
    c, h, w = (int(s) for s in shape)
    return c, h, w


def normalize_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 (N, C, H, W) images, in [0, 1] units.

    Sums run in float64 over batches, so memory stays bounded and 50,000 images lose nothing.
    A constant channel reports std 1, so that normalising by it never divides by zero.
    """
    if images.dim() != 4 or len(images) == 0:
        raise UsageError(f"cannot compute statistics of an empty or non-image set "
                         f"{tuple(images.shape)}")
    n, c, h, w = images.shape
    total = torch.zeros(c, dtype=torch.float64)
    squares = torch.zeros(c, dtype=torch.float64)
    step = max(1, BATCH_ELEMENTS // (c * h * w))
    for start in range(0, n, step):
        x = images[start:start + step].to(torch.float64)
        total += x.sum((0, 2, 3))
        squares += x.square().sum((0, 2, 3))
    count = n * h * w
    mean = total / count
    var = (squares / count - mean.square()).clamp_(min=0)
    std = var.sqrt() / 255
    std = torch.where(std > 0, std, torch.ones_like(std))
    return (mean / 255).tolist(), std.tolist()
