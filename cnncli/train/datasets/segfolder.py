"""Segmentation folders: ROOT/images/NAME.png|jpg|jpeg and ROOT/masks/NAME.png, read into
memory at the network's input size.

A mask holds one class index per pixel: a greyscale PNG, or a palette PNG as VOC ships them
(read as its indices, not its colours). 255 marks a void pixel, which is never scored.
Images are resized bilinearly to the input size, masks by nearest neighbour (a class index
is never blended).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...errors import UsageError
from ..task import VOID
from .imagefolder import IMAGE_SUFFIXES, _pillow, decode_image
from .imageset import ImageSet

MASK_MODES = ("P", "L", "1", "I", "I;16")  # single-channel PNGs: indices, not colours


def load_segfolder(root: Path, classes: int, size: tuple[int, int],
                   channels: int) -> tuple[ImageSet, int]:
    """(images and masks of `size` (H, W), how many pairs were resized to it)."""
    pairs = mask_pairs(root)
    image_mod = _pillow()
    images = torch.empty(len(pairs), channels, *size, dtype=torch.uint8)
    masks = torch.empty(len(pairs), *size, dtype=torch.uint8)
    resized = 0
    for i, (image_file, mask_file) in enumerate(pairs):
        with image_mod.open(image_file) as opened:
            image_size = opened.size
        mask, mask_size = read_mask(mask_file, classes, (size[1], size[0]))
        if mask_size != image_size:
            raise UsageError(f"{mask_file}: the mask is {mask_size[0]}x{mask_size[1]} but its "
                             f"image {image_file} is {image_size[0]}x{image_size[1]}")
        images[i] = decode_image(image_file, size, channels)
        masks[i] = mask
        resized += image_size != (size[1], size[0])
    return ImageSet(images, masks, [f"class {i}" for i in range(classes)], "segfolder"), resized


def mask_pairs(root: Path) -> list[tuple[Path, Path]]:
    """(image, mask) files of ROOT/images and ROOT/masks, matched by name without suffix."""
    image_dir, mask_dir = root / "images", root / "masks"
    if not image_dir.is_dir() or not mask_dir.is_dir():
        raise UsageError(f"{root}: a segmentation folder holds images/ and masks/ subfolders "
                         "(an image's mask has its name, as .png)")
    files = sorted(p for p in image_dir.iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not p.name.startswith("."))
    if not files:
        raise UsageError(f"{image_dir}: no .png, .jpg or .jpeg images")
    pairs = []
    for image_file in files:
        mask_file = mask_dir / f"{image_file.stem}.png"
        if not mask_file.is_file():
            raise UsageError(f"{image_file} has no mask: {mask_file} is missing")
        pairs.append((image_file, mask_file))
    return pairs


def read_mask(path: Path, classes: int,
              size: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
    """A mask's class indices as uint8 (H, W) resized to `size` (W, H) by nearest neighbour,
    and its own (W, H); a colour image or an index of `classes` or more (but 255) is refused."""
    image_mod = _pillow()
    try:
        with image_mod.open(path) as opened:
            if opened.mode not in MASK_MODES:
                raise UsageError(f"{path}: a mask holds one class index per pixel (a greyscale "
                                 f"or palette PNG), but this is a {opened.mode} image")
            own = opened.size
            values = np.asarray(opened).astype(np.int64)  # a palette PNG gives its indices
    except (OSError, ValueError, SyntaxError, image_mod.DecompressionBombError) as exc:
        raise UsageError(f"{path}: cannot read the mask ({exc})") from None
    bad = (values >= classes) & (values != VOID)
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        raise UsageError(f"{path}: class index {values[row, col]} at x={col}, y={row} is not "
                         f"below the network's {classes} classes (255 marks void pixels)")
    mask = image_mod.fromarray(values.astype(np.uint8))
    if own != size:
        mask = mask.resize(size, image_mod.Resampling.NEAREST)
    return torch.from_numpy(np.array(mask, dtype=np.uint8)), own
