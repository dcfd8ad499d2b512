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
