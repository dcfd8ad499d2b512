"""The oracle for saved activations: what autograd actually keeps in one training forward.

Every tensor `saved_tensors_hooks` sees is kept alive until the count is done (so no
storage is freed and its address reused), and the unique storages are summed, leaving out
the model's parameters and buffers and the input. On the meta device the same autograd
formulas run without memory or arithmetic, so the whole zoo is checked in a moment; on CPU
the figures are the same (tests compare both).
"""

from __future__ import annotations

import torch
from torch import nn


def _storage(t: torch.Tensor) -> int:
    """Identity of the storage behind `t` (the StorageImpl: shared by every view of it,
    and valid on the meta device, where data pointers are all 0)."""
    return t.untyped_storage()._cdata


def saved_activation_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the unique storages autograd saves in `model(x)` in training mode."""
    kept: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        kept.append(t)
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    owned = {_storage(t) for t in (*model.parameters(), *model.buffers(), x)}
    sizes: dict[int, int] = {}
    for t in kept:
        key = _storage(t)
        if key not in owned:
            sizes[key] = t.untyped_storage().nbytes()
    return sum(sizes.values())
