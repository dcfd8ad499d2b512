"""Unit rules of single layers that torch cannot check for us (work counts, windows)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cnncli.layers.pool import _bins


@given(size=st.integers(1, 400), out=st.integers(1, 400))
def test_adaptive_pool_windows_closed_form(size: int, out: int) -> None:
    """ATen's windows: start floor(i*size/out), end ceil((i+1)*size/out)."""
    lengths = [-(-((i + 1) * size) // out) - (i * size) // out for i in range(out)]
    assert _bins(size, out) == (sum(lengths), max(lengths))


def test_adaptive_pool_huge_output_is_instant() -> None:
    total, widest = _bins(7, 2_000_000_000)
    assert (total, widest) == (2_000_000_006, 2)


def test_maxpool_padding_is_refused_exactly_when_torch_refuses_it() -> None:
    """Torch checks padding against half the kernel itself, whatever the dilation."""
    import torch

    from cnncli.layers import ArgError
    from cnncli.layers.pool import MaxPool

    for kernel in range(1, 6):
        for padding in range(0, 4):
            for dilation in range(1, 4):
                try:
                    MaxPool.create(kernel=kernel, padding=padding, dilation=dilation)
                    ours = True
                except ArgError:
                    ours = False
                try:
                    torch.nn.MaxPool2d(kernel, 1, padding, dilation)(torch.zeros(1, 1, 24, 24))
                    theirs = True
                except RuntimeError:
                    theirs = False
                assert ours == theirs, (kernel, padding, dilation)
