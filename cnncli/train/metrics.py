"""Segmentation scores from a confusion matrix (rows: true class, columns: predicted),
accumulated over a whole split and summed across processes before these run, so that they
are the split's scores and not an average of per-batch ones.

- pixel accuracy: correctly classed pixels / scored pixels (void pixels are not scored);
- IoU of class c: TP / (TP + FP + FN), the pixels both call c over those either calls c;
- mean IoU: the mean over the classes present in the target or the prediction (a class
  that neither holds anywhere in the split has no IoU and is left out, as in VOC's and
  torchvision's reference evaluation).
"""

from __future__ import annotations

import torch


def class_iou(confusion: torch.Tensor) -> list[float | None]:
    """Each class's IoU, None for a class absent from both target and prediction."""
    c = confusion.to(torch.float64)
    tp = c.diagonal()
    union = c.sum(0) + c.sum(1) - tp
    return [(t / u) if u else None for t, u in zip(tp.tolist(), union.tolist())]


def mean_iou(confusion: torch.Tensor) -> float:
    present = [v for v in class_iou(confusion) if v is not None]
    return sum(present) / len(present) if present else 0.0


def pixel_accuracy(confusion: torch.Tensor) -> float:
    total = int(confusion.sum())
    return int(confusion.diagonal().sum()) / total if total else 0.0
