"""Torch modules for the transformer layers: the vision transformer's class token, position
embedding, attention and token pick, and the Swin Transformer's shifted-window attention and
patch merging.

Imported only inside the layers' build(), as `modules` is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ClassToken(nn.Module):
    """Prepends a learned token to (N, D, L) tokens; `class_token` is (1, 1, D), as in
    torchvision's VisionTransformer. The tokens are joined as (N, L + 1, D), as there."""

    def __init__(self, features: int):
        super().__init__()
        self.class_token = nn.Parameter(torch.zeros(1, 1, features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        token = self.class_token.expand(x.shape[0], -1, -1)
        return torch.cat([token, x.transpose(1, 2)], dim=1).transpose(1, 2)


class PositionEmbedding(nn.Module):
    """Adds a learned (1, L, D) `pos_embedding` (torchvision's, normal with std 0.02) to
    (N, D, L) tokens."""

    def __init__(self, features: int, tokens: int):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, tokens, features).normal_(std=0.02))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pos_embedding.transpose(1, 2)


class SelfAttention(nn.Module):
    """Multi-head self-attention on (N, D, L) tokens with nn.MultiheadAttention's weights
    (`in_proj_weight` (3D, D), `in_proj_bias`, `out_proj`), written out as its math:
    softmax(q·kᵀ/√d)·v per head, so FlopCounterMode counts the two products and the saved
    tensors are the ones docs/counting.md describes."""

    def __init__(self, features: int, heads: int, bias: bool = True):
        super().__init__()
        if features % heads:
            raise ValueError(f"{features} features do not split into {heads} heads")
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * features, features))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * features)) if bias else None
        self.out_proj = nn.Linear(features, features, bias)
        nn.init.xavier_uniform_(self.in_proj_weight)  # as nn.MultiheadAttention
        if bias:
            nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, d, length = x.shape
        qkv = F.linear(x.transpose(1, 2), self.in_proj_weight, self.in_proj_bias)
        # (N, L, 3D) -> three (N, heads, L, d) views
        q, k, v = qkv.unflatten(-1, (3, self.heads, d // self.heads)).permute(2, 0, 3, 1, 4)
        scores = (q * (d // self.heads) ** -0.5) @ k.transpose(-2, -1)
        mixed = scores.softmax(-1) @ v  # (N, heads, L, d)
        return self.out_proj(mixed.transpose(1, 2).reshape(n, length, d)).transpose(1, 2)


class TokenSelect(nn.Module):
    """The features of token `index` of (N, D, L) tokens: (N, D), a view."""

    def __init__(self, index: int):
        super().__init__()
        self.index = int(index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, self.index]


def relative_position_index(window: int) -> torch.Tensor:
    """torchvision's index into a Swin block's bias table: for each pair of positions in a
    window (w² x w², flattened), their offset (dy, dx) as one row of the (2w - 1)² table."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window),
                                        indexing="ij")).flatten(1)  # 2, w²
    relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return (relative[:, :, 0] * (2 * window - 1) + relative[:, :, 1]).flatten()


class WindowAttention(nn.Module):
    """Swin's (shifted-)window multi-head self-attention on an (N, C, H, W) map, with
    torchvision's ShiftedWindowAttention's parameters and its algorithm: pad H and W to
    whole windows, roll by -shift (where the padded map is bigger than a window), attention
    within each window with a learned relative position bias (and, rolled, a mask that
    keeps positions that were not neighbours apart), roll back, crop."""

    def __init__(self, dim: int, heads: int, window: int, shift: int, bias: bool = True):
        super().__init__()
        if dim % heads or window < 1 or not 0 <= shift < window:
            raise ValueError(f"{dim} features in {heads} heads, window {window}, shift {shift}")
        self.heads, self.window, self.shift = heads, window, shift
        self.qkv = nn.Linear(dim, 3 * dim, bias)
        self.proj = nn.Linear(dim, dim, bias)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(window))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, heads = self.window, self.heads
        x = x.permute(0, 2, 3, 1).contiguous()
        n, h, width, c = x.shape
        x = F.pad(x, (0, 0, 0, (w - width % w) % w, 0, (w - h % w) % w))
        ph, pw = x.shape[1:3]
        shift = [self.shift if w < ph else 0, self.shift if w < pw else 0]
        if any(shift):
            x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
        windows = (ph // w) * (pw // w)
        x = x.view(n, ph // w, w, pw // w, w, c).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(n * windows, w * w, c)
        q, k, v = self.qkv(x).reshape(n * windows, w * w, 3, heads, c // heads) \
            .permute(2, 0, 3, 1, 4)
        scores = (q * (c // heads) ** -0.5).matmul(k.transpose(-2, -1))
        table = self.relative_position_bias_table[self.relative_position_index]
        scores = scores + table.view(w * w, w * w, heads).permute(2, 0, 1).unsqueeze(0)
        if any(shift):
            mask = _shift_mask(ph, pw, w, shift, x)
            scores = scores.view(n, windows, heads, w * w, w * w) + mask.unsqueeze(1).unsqueeze(0)
            scores = scores.view(n * windows, heads, w * w, w * w)
        x = scores.softmax(-1).matmul(v).transpose(1, 2).reshape(n * windows, w * w, c)
        x = self.proj(x).view(n, ph // w, pw // w, w, w, c).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(n, ph, pw, c)
        if any(shift):
            x = torch.roll(x, shifts=tuple(shift), dims=(1, 2))
        if (ph, pw) != (h, width):  # the crop: a copy (contiguous() would keep a batch of
            x = x[:, :h, :width].clone(memory_format=torch.contiguous_format)  # one's view)
        return x.permute(0, 3, 1, 2)


def _shift_mask(ph: int, pw: int, w: int, shift: list[int], like: torch.Tensor) -> torch.Tensor:
    """(windows, w², w²): 0 between positions of one region of the rolled map, -100 between
    regions that wrapped around (torchvision's mask)."""
    regions = like.new_zeros((ph, pw))
    count = 0
    for top, bottom in ((0, -w), (-w, -shift[0]), (-shift[0], None)):  # torchvision's
        for left, right in ((0, -w), (-w, -shift[1]), (-shift[1], None)):
            regions[top:bottom, left:right] = count
            count += 1
    regions = regions.view(ph // w, w, pw // w, w).permute(0, 2, 1, 3).reshape(-1, w * w)
    mask = regions.unsqueeze(1) - regions.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0)


class PatchMerge(nn.Module):
    """Swin's patch merging before its norm and reduction: each 2x2 patch's four positions
    side by side as 4C channels, in torchvision's order ((0, 0), (1, 0), (0, 1), (1, 1));
    an odd H or W padded with zeros first."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x.permute(0, 2, 3, 1), (0, 0, 0, x.shape[3] % 2, 0, x.shape[2] % 2))
        parts = [x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]]
        return torch.cat(parts, -1).permute(0, 3, 1, 2)


class PartitionAttention(nn.Module):
    """MaxViT's attention within partitions of an (N, C, H, W) map, with torchvision's
    RelativePositionalMultiHeadAttention's parameters and its arithmetic (k scaled by
    C^-1/2, as there): blocks of size x size neighbours, or (grid) size x size positions
    spread H/size apart; a learned bias per head for each relative position."""

    def __init__(self, dim: int, heads: int, size: int, grid: bool, bias: bool = True):
        super().__init__()
        if dim % heads or size < 1:
            raise ValueError(f"{dim} features in {heads} heads, partition size {size}")
        self.heads, self.size, self.grid, self.scale = heads, size, grid, dim ** -0.5
        self.to_qkv = nn.Linear(dim, 3 * dim, bias)
        self.merge = nn.Linear(dim, dim, bias)
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * size - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index",
                             relative_position_index(size).view(size * size, size * size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        s = self.size
        if h % s or w % s:
            raise ValueError(f"a {h}x{w} map does not split into {s}x{s} parts")
        # blocks: (h/s x w/s) windows of s x s neighbours; grid: (h/s x w/s) windows of
        # s x s positions h/s and w/s apart (torchvision's partition and axis swap)
        x = x.reshape(n, c, h // s, s, w // s, s).permute(0, 2, 4, 3, 5, 1) if not self.grid \
            else x.reshape(n, c, s, h // s, s, w // s).permute(0, 3, 5, 2, 4, 1)
        x = x.reshape(n, (h // s) * (w // s), s * s, c).clone(memory_format=torch.contiguous_format)
        b, g, area, _ = x.shape
        q, k, v = (t.reshape(b, g, area, self.heads, c // self.heads).permute(0, 1, 3, 2, 4)
                   for t in self.to_qkv(x).chunk(3, dim=-1))
        scores = q @ (k * self.scale).transpose(-2, -1)
        table = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        scores = scores + table.view(area, area, -1).permute(2, 0, 1).unsqueeze(0)
        x = self.merge((scores.softmax(-1) @ v).permute(0, 1, 3, 2, 4).reshape(b, g, area, c))
        x = x.reshape(n, h // s, w // s, s, s, c)
        x = x.permute(0, 5, 1, 3, 2, 4) if not self.grid else x.permute(0, 5, 3, 1, 4, 2)
        return x.reshape(n, c, h, w).contiguous()  # NCHW, also where the reshape is a view
