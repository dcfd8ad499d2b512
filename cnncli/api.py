"""The library's plain-function face: everything the CLI does, callable from Python."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .analyze import DTYPE_BYTES, Analysis, analyze_network
from .errors import UsageError
from .ir import Network
from .spec import load as load_spec


def load(spec: str | Network, overrides: Mapping[str, Any] | None = None,
         input: str | tuple[int, ...] | None = None) -> Network:
    """A resolved network from a spec file, a zoo name, or an already loaded Network."""
    if isinstance(spec, Network):
        if overrides or input is not None:
            raise UsageError("overrides and input apply when loading; pass the spec name")
        return spec
    return load_spec(spec, overrides, input)


def analyze(spec: str | Network, overrides: Mapping[str, Any] | None = None,
            input: str | tuple[int, ...] | None = None, batch: int = 1,
            dtype: str = "fp32") -> Analysis:
    """Static analysis of a spec: `cnncli.analyze("resnet50").totals()["macs"]`."""
    if batch < 1:
        raise UsageError(f"batch must be at least 1, got {batch}")
    if dtype not in DTYPE_BYTES:
        raise UsageError(f"dtype must be one of {', '.join(DTYPE_BYTES)}, got {dtype!r}")
    return analyze_network(load(spec, overrides, input), batch=batch, dtype=dtype)
