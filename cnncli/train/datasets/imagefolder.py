"""Folders of class subfolders of images, decoded on demand in DataLoader workers;
.npy arrays for prediction."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ...errors import UsageError
from .fit import fit_images

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def load_imagefolder(root: str) -> tuple[list[tuple[Path, int]], list[str]]:
    """(image file, class index) pairs and the sorted class names of a folder of class folders."""
    samples, classes, _ = scan_imagefolder(root)
    return samples, classes


def scan_imagefolder(root: str) -> tuple[list[tuple[Path, int]], list[str], list[Path]]:
    """load_imagefolder's pairs and classes, and the other files it skipped (not images)."""
    top = Path(root).expanduser()
    if not top.is_dir():
        raise UsageError(f"{top}: no such folder of class subfolders")
    classes = sorted(p.name for p in top.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise UsageError(f"{top}: no class subfolders; put each class's images in a subfolder "
                         "named after it")
    samples: list[tuple[Path, int]] = []
    skipped: list[Path] = []
    for index, name in enumerate(classes):
        found = sorted(p for p in (top / name).rglob("*")
                       if p.is_file() and not p.name.startswith("."))
        files = [p for p in found if p.suffix.lower() in IMAGE_SUFFIXES]
        skipped.extend(p for p in found if p.suffix.lower() not in IMAGE_SUFFIXES)
        if not files:
            raise UsageError(f"{top / name}: no .png, .jpg or .jpeg images in this class folder")
        samples.extend((p, index) for p in files)
    return samples, classes, skipped


def other_sizes(samples: list[tuple[Path, int]], size: tuple[int, int],
                limit: int = 2000) -> tuple[int, int]:
    """(how many images are not H x W `size`, how many were checked): at most `limit`,
    spread evenly, reading each file's header only."""
    image_mod = _pillow()
    picked = samples[::max(1, -(-len(samples) // limit))]
    differ = 0
    for path, _ in picked:
        try:
            with image_mod.open(path) as image:
                differ += image.size != (size[1], size[0])
        except (OSError, ValueError, SyntaxError, image_mod.DecompressionBombError):
            continue  # said when the image is decoded, with its name
    return differ, len(picked)


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise UsageError("imagefolder needs Pillow: pip install 'cnncli[images]'") from None
    return Image


def decode_image(path: Path | str, size: tuple[int, int] | None, channels: int) -> torch.Tensor:
    """One image file as uint8 (channels, H, W), resized to size (H, W) unless size is None."""
    if channels not in (1, 3):
        raise UsageError(f"images can be read with 1 or 3 channels, not {channels}")
    image_mod = _pillow()
    try:
        with image_mod.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), image_mod.Resampling.BILINEAR)
            width, height = image.size
            pixels = bytearray(image.tobytes())
    except (OSError, ValueError, SyntaxError, image_mod.DecompressionBombError) as exc:
        raise UsageError(f"{path}: cannot read the image ({exc})") from None
    return torch.frombuffer(pixels, dtype=torch.uint8).view(height, width, channels) \
        .permute(2, 0, 1).contiguous()


class ImageFolderDataset(torch.utils.data.Dataset):
    """A folder of class subfolders, decoded on demand to uint8 (C, H, W) of one size."""

    def __init__(self, root: str, size: tuple[int, int], channels: int):
        _pillow()  # fail now, not in a loader worker, when Pillow is missing
        if channels not in (1, 3):
            raise UsageError(f"imagefolder images can have 1 or 3 channels, not {channels}")
        self.samples, self.classes, self.skipped = scan_imagefolder(root)
        self.size, self.channels = size, channels

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return decode_image(path, self.size, self.channels), label


def stream_batches(dataset: torch.utils.data.Dataset, chunks: list[list[int]], workers: int,
                   pin: bool) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Decode batches of `dataset` (index lists `chunks`) in DataLoader workers.

    A worker's UsageError (an unreadable image) comes back as data and is raised here as the
    one sentence it is, not wrapped in the loader's traceback.
    """
    loader = torch.utils.data.DataLoader(_Caught(dataset), batch_sampler=chunks,
                                         num_workers=workers, pin_memory=pin,
                                         collate_fn=_stack_checked)
    for batch in loader:
        if isinstance(batch, str):
            raise UsageError(batch)
        yield batch


def _stack_checked(batch: list[tuple[Any, int, str | None]]) -> Any:
    for _, _, error in batch:
        if error is not None:
            return error
    return (torch.stack([image for image, _, _ in batch]),
            torch.tensor([label for _, label, _ in batch], dtype=torch.int64))


class _Caught(torch.utils.data.Dataset):
    def __init__(self, dataset: Any):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, int, str | None]:
        try:
            return (*self.dataset[index], None)
        except UsageError as exc:
            return None, -1, str(exc)


def read_npy(path: str, channels: int) -> torch.Tensor:
    """A .npy array as uint8 (C, H, W): HxW grey, HxWxC or CxHxW; floats in [0, 1] scaled."""
    import numpy as np

    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable .npy array ({exc})") from None
    if array.ndim == 2:
        array = array[None]
    elif array.ndim == 3 and array.shape[-1] in (1, 3) and array.shape[0] not in (1, 3):
        array = array.transpose(2, 0, 1)
    if array.ndim != 3 or array.shape[0] not in (1, 3):
        raise UsageError(f"{path}: expected an HxW, HxWxC or CxHxW image, got shape "
                         f"{array.shape}")
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise UsageError(f"{path}: the array holds NaN or infinite values")
        array = np.clip(array * 255 if array.max() <= 1 else array, 0, 255).round()
    elif array.dtype.kind not in "ui" or array.min() < 0 or array.max() > 255:
        raise UsageError(f"{path}: pixel values must be 0..255 integers or 0..1 floats")
    image = torch.from_numpy(np.ascontiguousarray(array.astype(np.uint8)))
    if image.shape[0] != channels:  # grey to colour by repetition, colour to grey by luma
        image = fit_images(image[None], (channels, *image.shape[1:]), "resize")[0]
    return image
