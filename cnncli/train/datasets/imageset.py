"""In-memory labelled image sets: the form every dataset family loads into."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ...errors import UsageError


@dataclass
class ImageSet:
    """A labelled set of images held in memory: uint8 (N, C, H, W) and int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or len(self.images) != len(self.labels):
            raise ValueError(f"images {tuple(self.images.shape)} and labels "
                             f"{tuple(self.labels.shape)} do not make an image set")

    def __len__(self) -> int:
        return len(self.labels)

    def split(self, fraction: float, seed: int) -> tuple[ImageSet, ImageSet]:
        """(rest, held out): a random `fraction` held out, the same for the same seed."""
        n = len(self)
        held = round(n * fraction)
        if not 0 < fraction < 1 or not 0 < held < n:
            raise UsageError(f"--val-split {fraction:g} leaves no images on one side of "
                             f"{self.name}'s {n:,}; give a fraction between 0 and 1")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        # sorted within each part: the subsets keep the file order, which reads faster
        rest, val = order[held:].sort().values, order[:held].sort().values
        return self._subset(rest), self._subset(val)

    def _subset(self, index: torch.Tensor) -> ImageSet:
        return ImageSet(self.images[index], self.labels[index], list(self.classes), self.name)


def check_labels(labels: torch.Tensor, count: int, classes: int, label_file: Path | str,
                  image_file: Path | str) -> None:
    if len(labels) != count:
        raise UsageError(f"{label_file} holds {len(labels):,} labels but {image_file} holds "
                         f"{count:,} images")
    bad = ((labels < 0) | (labels >= classes)).nonzero().flatten()
    if len(bad):
        i = int(bad[0])
        raise UsageError(f"{label_file}: label {int(labels[i])} at position {i} is outside "
                         f"0-{classes - 1}")
