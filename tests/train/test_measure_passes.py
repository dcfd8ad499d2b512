"""`cnncli.train.bench` as a library: how many passes it runs (bench/bench_time.py gives a
big network fewer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import cnncli
from cnncli.train import bench as bench_module


@pytest.mark.slow  # torch's profiler: about a second
def test_bench_runs_the_warm_up_timed_and_profiled_passes_asked(monkeypatch) -> None:
    calls = []
    made = bench_module._step_fn

    def counted(*args: Any) -> Callable[[], None]:
        step = made(*args)
        return lambda: (calls.append(1), step())[1]

    monkeypatch.setattr(bench_module, "_step_fn", counted)
    result = bench_module.bench(cnncli.analyze("lenet5"), "cpu", warmup=1, repeats=2,
                                profiled=1)
    assert len(calls) == 1 + 2 + 1
    assert len(result.latencies_s) == 2
    assert all(layer.ms > 0 for layer in result.layers if layer.kind == "conv")
