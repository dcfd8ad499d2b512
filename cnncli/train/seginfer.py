"""`cnncli predict` and `eval` for a segmentation network: a colour mask PNG beside each
image with each class's share of the pixels, and pixel accuracy and mIoU over a split.

The mask is a palette PNG: its pixels are class indices and its palette gives them VOC's
colours, so it shows in colour and reads back as a segfolder mask.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import UsageError
from ..files import write_atomically
from ..spec.ir import Network
from . import datasets
from .batches import prepare
from .datasets.fit import image_shape
from .datasets.imagefolder import _pillow
from .metrics import class_iou, mean_iou, pixel_accuracy


def palette() -> list[int]:
    """VOC's colour map, 256 RGB triples flat: class i's colour spreads the bits of i over
    the channels, high bits first (0 black, 1 dark red, 2 dark green, ..., 255 cream)."""
    colours = []
    for index in range(256):
        rgb, value = [0, 0, 0], index
        for shift in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((value >> channel) & 1) << shift
            value >>= 3
        colours += rgb
    return colours


def mask_path(image: str) -> Path:
    """Where an image's predicted mask goes: beside it, cat.jpg -> cat.mask.png."""
    return Path(image).with_suffix(".mask.png")


def check_mask_paths(files: list[str], force: bool) -> None:
    """Before any work: an existing mask is overwritten only with --force."""
    for file in files:
        path = mask_path(file)
        if path.exists() and not force:
            raise UsageError(f"{path} exists; pass --force to overwrite it")


def predict_masks(model: Any, network: Network, record: dict[str, Any], files: list[str],
                  fit: str | None, force: bool) -> list[dict[str, Any]]:
    """Each image's mask written beside it, and each class's share of its pixels."""
    check_mask_paths(files, force)
    names = record["classes"]
    results = []
    for file in files:
        indices = segment(model, network, record, file, fit)
        path = write_mask(indices, mask_path(file))
        counts = torch.bincount(indices.flatten().long(), minlength=len(names)).tolist()
        total = indices.numel()
        results.append({"file": file, "mask": str(path), "shares": [
            {"class": names[i], "index": i, "share": round(n / total, 6)}
            for i, n in enumerate(counts) if n]})
    return results


def segment(model: Any, network: Network, record: dict[str, Any], file: str,
            fit: str | None) -> torch.Tensor:
    """The arg-max class of each pixel of an image, uint8 (H, W) at the image's own size:
    the image is fitted to the network's input, and the class scores scaled back."""
    c, h, w = image_shape(tuple(network.input))
    if not Path(file).is_file():
        raise UsageError(f"{file}: no such image file")
    image = datasets.read_npy(file, c) if file.endswith(".npy") \
        else datasets.decode_image(file, None, c)
    size = tuple(image.shape[-2:])
    fitted = datasets.fit_images(image[None], (c, h, w), fit or "resize")
    with torch.no_grad():
        logits = model(prepare(fitted, record["mean"], record["std"])).float()
    if tuple(logits.shape[-2:]) != size:
        logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
    return logits.argmax(1)[0].to(torch.uint8)


def write_mask(indices: torch.Tensor, path: Path) -> Path:
    image_mod = _pillow()
    height, width = indices.shape
    image = image_mod.frombytes("P", (width, height), indices.contiguous().numpy().tobytes())
    image.putpalette(palette())
    try:
        return write_atomically(path, lambda tmp: image.save(tmp, format="PNG"))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def eval_result(confusion: torch.Tensor, loss: float, pixels: float) -> dict[str, Any]:
    """A segmentation eval's scores from its confusion matrix (pixels, rows true)."""
    return {"pixels": int(pixels), "loss": loss / max(pixels, 1),
            "pixel_accuracy": pixel_accuracy(confusion), "miou": mean_iou(confusion),
            "per_class_iou": class_iou(confusion),
            "per_class_pixels": confusion.sum(1).tolist(), "confusion": confusion.tolist()}
