"""The learning rate at each step (warm-up, then the schedule) and the optimiser over the
trainable parameters. The rate is a pure function of the global step, so a resumed run
needs only the step to continue exactly."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..errors import UsageError
from ..spec.recipe import TrainOptions


def lr_at(step: int, steps_per_epoch: int, options: TrainOptions) -> float:
    """The learning rate at a global step: warm-up, then the schedule. Pure, so resumable."""
    total = options.epochs * steps_per_epoch
    warm = int(options.warmup * steps_per_epoch)
    if step < warm:
        return options.lr * (step + 1) / warm
    t, span = step - warm, max(1, total - warm)
    if options.schedule == "step":
        return options.lr * options.gamma ** ((step // steps_per_epoch) // options.step_size)
    if options.schedule == "cosine":
        return options.lr * 0.5 * (1 + math.cos(math.pi * min(t, span) / span))
    if options.schedule == "onecycle":
        # torch's OneCycleLR defaults: from lr/25 up to lr over 30%, then down to lr/25e4.
        up = max(1, int(0.3 * span))
        low, final = options.lr / 25, options.lr / 25e4
        if t < up:
            return low + (options.lr - low) * 0.5 * (1 - math.cos(math.pi * t / up))
        frac = min(1.0, (t - up) / max(1, span - up))
        return final + (options.lr - final) * 0.5 * (1 + math.cos(math.pi * frac))
    return options.lr


def make_optimizer(model: nn.Module, options: TrainOptions,
                   head: str | None = None) -> torch.optim.Optimizer:
    """SGD or Adam(W) over the trainable parameters. With --lr-backbone, two groups: the
    classifier (module `head`) at --lr, the rest at --lr-backbone (`lr_scale` keeps the
    ratio through the schedule)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise UsageError("the network has no trainable parameters (all frozen?)")
    groups: list[dict[str, Any]] = [{"params": params, "lr_scale": 1.0}]
    if options.lr_backbone is not None and head is not None:
        own = {id(p) for p in model.get_submodule(head).parameters() if p.requires_grad}
        groups = [{"params": [p for p in params if id(p) in own], "lr_scale": 1.0},
                  {"params": [p for p in params if id(p) not in own],
                   "lr_scale": options.lr_backbone / options.lr}]
        groups = [g for g in groups if g["params"]]
    if options.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=options.lr, momentum=options.momentum,
                               nesterov=options.nesterov and options.momentum > 0,
                               weight_decay=options.weight_decay)
    kind = torch.optim.Adam if options.optimizer == "adam" else torch.optim.AdamW
    return kind(groups, lr=options.lr, weight_decay=options.weight_decay)
