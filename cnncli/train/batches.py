"""Data on the training device and its batches: the splits (uint8 tensors in memory, or a
dataset streamed by DataLoader workers), each epoch's sample order, batched augmentation and
normalisation on tensors, and the evaluation pass over a split.

Determinism: the sample order of epoch e is a permutation seeded by (seed, e), and the
augmentation of a step draws from a generator the caller seeds by (seed, e, step).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..model import compat
from ..spec.recipe import TrainOptions
from .datasets import stream_batches
from .devices import Dist
from .task import VOID, Task


@dataclass
class Split:
    """A split: one uint8 tensor (N, C, H, W) on the device, or a dataset streamed by
    DataLoader workers (image folders), with int64 labels either way; for segmentation the
    labels are uint8 masks (N, H, W) of class indices."""

    images: torch.Tensor | None
    labels: torch.Tensor
    dataset: Any = None  # a torch Dataset of (uint8 image, label) when streamed
    workers: int = 0

    def __len__(self) -> int:
        return len(self.labels)

    def batches(self, order: torch.Tensor, batch_size: int, first: int, last: int,
                device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """uint8 images and labels on `device` for batches first..last-1 of `order`."""
        if self.dataset is None:
            assert self.images is not None
            for step in range(first, last):
                idx = order[step * batch_size:(step + 1) * batch_size].to(self.images.device)
                yield self.images[idx], self.labels[idx]
            return
        chunks = [order[s * batch_size:(s + 1) * batch_size].tolist() for s in range(first, last)]
        pin = device.type == "cuda"
        for images, labels in stream_batches(self.dataset, chunks, self.workers, pin):
            yield images.to(device, non_blocking=pin), labels.to(device, non_blocking=pin)


@dataclass
class Data:
    name: str
    train: Split
    val: Split | None
    classes: list[str]
    mean: list[float]
    std: list[float]
    fit: str | None
    val_source: str  # "test split", "10% of train" or "none"
    task: Task = Task.CLASSIFICATION

    def record(self) -> dict[str, Any]:
        record = {"name": self.name, "classes": self.classes, "mean": self.mean,
                  "std": self.std, "fit": self.fit, "val": self.val_source}
        if self.task is not Task.CLASSIFICATION:  # a classifier's record stays as it was
            record["task"] = self.task.value
        return record

    @property
    def ignore_index(self) -> int:
        """The label cross-entropy skips: void pixels in masks; none for classes (-100 is
        torch's default, never a class index)."""
        return VOID if self.task is Task.SEGMENTATION else -100


def epoch_order(n: int, seed: int, epoch: int, dist: Dist) -> torch.Tensor:
    """This rank's sample order for an epoch: same on every rank, then sharded."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=generator)
    per_rank = n // dist.world
    return order[dist.rank * per_rank:(dist.rank + 1) * per_rank]


def prepare(images: torch.Tensor, mean: list[float], std: list[float],
            augment: TrainOptions | None = None, generator: torch.Generator | None = None,
            channels_last: bool = False) -> torch.Tensor:
    """uint8 (B, C, H, W) to a float batch normalised per channel; augmented (crop, flip as
    `augment` asks, drawing from `generator`) when training."""
    x = images.float().div_(255)
    if augment is not None and generator is not None:
        if "crop" in augment.augment:
            x = random_crop(x, augment.crop_padding, generator)
        if "flip" in augment.augment:
            flip = torch.rand(len(x), generator=generator).lt(0.5).to(x.device)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    mean_t = torch.tensor(mean, device=x.device)[None, :, None, None]
    std_t = torch.tensor(std, device=x.device)[None, :, None, None]
    x = (x - mean_t) / std_t
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def random_crop(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Pad with zeros and cut each image at a random offset (batched: one slice per offset)."""
    if pad == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
    out = torch.empty_like(x)
    keys = offsets[:, 0] * (2 * pad + 1) + offsets[:, 1]
    for key in keys.unique().tolist():
        rows = (keys == key).nonzero().flatten().to(x.device)
        dy, dx = divmod(key, 2 * pad + 1)
        out[rows] = padded[rows, :, dy:dy + h, dx:dx + w]
    return out


def evaluate_split(model: nn.Module, split: Split, data: Data, device: torch.device,
                   batch_size: int, channels_last: bool = False,
                   amp_dtype: torch.dtype | None = None, dist: Dist | None = None,
                   confusion: torch.Tensor | None = None) -> tuple[float, float, float]:
    """Summed loss, correct count and count over a split (this rank's shard under DDP):
    of images for a classifier, of scored pixels (void ones left out) for segmentation.
    `confusion` (classes x classes, rows true) adds this rank's counts."""
    dist = dist or Dist()
    indices = torch.arange(dist.rank, len(split), dist.world)
    loss_sum = correct = seen = 0.0
    steps = -(-len(indices) // batch_size)
    for images, y in split.batches(indices, batch_size, 0, steps, device):
        x = prepare(images, data.mean, data.std, channels_last=channels_last)
        y = y.long()
        with compat.autocast(device, amp_dtype):
            logits = model(x).float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum",
                                    ignore_index=data.ignore_index).item()
        hits, count = score(logits, y, data.ignore_index, confusion)
        correct += hits
        seen += count
    loss_sum, correct, seen = dist.reduce([loss_sum, correct, seen], device)
    return loss_sum, correct, seen


def score(logits: torch.Tensor, y: torch.Tensor, ignore_index: int,
          confusion: torch.Tensor | None = None) -> tuple[int, int]:
    """(correct, counted) of a batch's arg-max predictions, labels equal to `ignore_index`
    left out; their counts added to `confusion` (rows: true class, columns: predicted)."""
    target, predicted = y.flatten(), logits.argmax(1).flatten()
    keep = target != ignore_index
    if not bool(keep.all()):
        target, predicted = target[keep], predicted[keep]
    if confusion is not None:
        n = len(confusion)
        confusion += torch.bincount((target * n + predicted).cpu(),
                                    minlength=n * n).view(n, n).to(confusion)
    return int((predicted == target).sum()), len(target)
