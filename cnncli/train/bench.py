"""Measured speed of a built network: forward (or a whole SGD training step) latency and
throughput, peak memory, and per-layer time from torch.profiler beside the analyzer's MACs.

Timings: W warm-up iterations, then R timed ones, each timed with perf_counter and, on
CUDA, torch.cuda.synchronize before and after, so a figure is the work of that iteration.
Per-layer times come from a separate profiled forward (after the timed runs, so the
profiler's overhead never enters the latencies): every leaf module runs inside a
`record_function` scope named by its path, opened by a forward pre-hook and closed by a
forward hook.
"""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..analysis.analyze import Analysis
from ..analysis.training import Training, training_memory
from ..model import compat
from ..model.build import build_from_analysis
from .devices import Dist, pick_device
from .task import head_of

SCOPE = "cnncli.layer:"  # prefix of the record_function scopes, so they never clash
PROFILED = 3  # forward passes recorded by the profiler; per-layer times are their mean


@dataclass
class LayerTime:
    """One leaf layer: measured forward time beside the analyzer's work for the batch."""

    path: str
    kind: str
    ms: float
    macs: int

    def gflops(self) -> float | None:
        """Achieved GFLOP/s: 2 x MACs per batch over the measured time."""
        return 2 * self.macs / (self.ms / 1e3) / 1e9 if self.ms > 0 else None


@dataclass
class Memory:
    """A measured peak, and exactly what it is."""

    kind: str  # "cuda_max_memory_allocated" | "cpu_peak_rss_growth"
    bytes: int | None
    note: str


@dataclass
class Bench:
    analysis: Analysis
    device: torch.device
    device_name: str
    train: bool
    amp: bool  # as run: False where --amp does not apply (CPU)
    warmup: int
    repeats: int
    latencies_s: list[float]
    memory: Memory
    layers: list[LayerTime]
    time_source: str  # "cpu" or "cuda": which profiler clock the per-layer times are from
    predicted: Training | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def batch(self) -> int:
        return self.analysis.batch

    @property
    def median_s(self) -> float:
        return statistics.median(self.latencies_s)

    def images_per_s(self, seconds: float) -> float:
        return self.batch / seconds


def _amp_dtype(device: torch.device, amp: bool, notes: list[str]) -> torch.dtype | None:
    """bfloat16 where the GPU has it, else float16; None off CUDA (as `cnncli train`)."""
    if not amp:
        return None
    if device.type != "cuda":
        notes.append("--amp applies to CUDA only; running in float32 here")
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step_fn(model: nn.Module, analysis: Analysis, device: torch.device, train: bool,
             dtype: torch.dtype | None) -> Callable[[], None]:
    """One iteration: a no-grad forward, or forward + cross-entropy + backward + SGD step."""
    x = torch.randn(analysis.batch, *analysis.input, device=device)
    if not train:
        model.eval()

        def forward() -> None:
            with torch.no_grad(), compat.autocast(device, dtype):
                model(x)
        return forward
    head = head_of(analysis.network)  # a class per sample, or per pixel (segmentation)
    model.train()
    labels = torch.randint(0, head.classes, (analysis.batch, *analysis.output[1:]),
                           device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    scaler = compat.grad_scaler() if dtype == torch.float16 else None

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with compat.autocast(device, dtype):
            loss = F.cross_entropy(model(x), labels)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
    return step


def _time(step: Callable[[], None], device: torch.device, warmup: int,
          repeats: int) -> list[float]:
    """Seconds of each of `repeats` iterations after `warmup` untimed ones."""
    for _ in range(warmup):
        step()
    out = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        step()
        _sync(device)
        out.append(time.perf_counter() - start)
    return out


def _peak_rss_bytes() -> int:
    """The process's peak resident set so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _measured(step: Callable[[], None], device: torch.device, warmup: int,
              repeats: int) -> tuple[list[float], Memory]:
    """Latencies, and the peak memory of the warm-up and timed iterations."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        latencies = _time(step, device, warmup, repeats)
        return latencies, Memory("cuda_max_memory_allocated",
                                 torch.cuda.max_memory_allocated(device),
                                 "torch.cuda.max_memory_allocated: the caching allocator's "
                                 "peak, model and input included")
    before = _peak_rss_bytes()
    latencies = _time(step, device, warmup, repeats)
    return latencies, Memory("cpu_peak_rss_growth", _peak_rss_bytes() - before,
                             "growth of the process's peak RSS (getrusage ru_maxrss) while "
                             "benchmarking, not an allocator peak; 0 when the run stays "
                             "under the process's earlier high")


def _scopes(model: nn.Module, paths: list[str]) -> list[Any]:
    """Hooks that run each leaf module inside a record_function scope named by its path."""
    handles: list[Any] = []
    for path in paths:
        module = model.get_submodule(path)
        open_scopes: list[Any] = []

        def enter(_m: nn.Module, _i: Any, name: str = SCOPE + path,
                  stack: list[Any] = open_scopes) -> None:
            scope = torch.profiler.record_function(name)
            scope.__enter__()
            stack.append(scope)

        def leave(_m: nn.Module, _i: Any, _o: Any, stack: list[Any] = open_scopes) -> None:
            stack.pop().__exit__(None, None, None)

        handles += [module.register_forward_pre_hook(enter), module.register_forward_hook(leave)]
    return handles


@contextlib.contextmanager
def _native_stderr_quiet() -> Iterator[None]:
    """Silence file descriptor 2 for the profiler's start and stop: kineto writes its own
    log lines there from C++ ("USDT: ... profiler_start"), which Python cannot filter."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _layer_times(model: nn.Module, analysis: Analysis, device: torch.device,
                 dtype: torch.dtype | None, passes: int) -> tuple[list[LayerTime], str]:
    """Mean forward time per leaf layer over `passes` profiled passes, in ms."""
    rows = [row for row in analysis.root.walk() if row.is_layer]
    cuda = device.type == "cuda"
    forward = _step_fn(model, analysis, device, False, dtype)
    handles = _scopes(model, [row.path for row in rows])
    try:
        with _native_stderr_quiet(), \
                torch.profiler.profile(activities=compat.profiler_activities(cuda)) as prof:
            for _ in range(passes):
                forward()
            _sync(device)
    finally:
        for handle in handles:
            handle.remove()
    totals: dict[str, float] = {}
    for event in prof.key_averages():
        if event.key.startswith(SCOPE):
            us = compat.device_time_us(event) if cuda else float(event.cpu_time_total)
            totals[event.key[len(SCOPE):]] = us
    times = [LayerTime(row.path, row.kind, totals.get(row.path, 0.0) / passes / 1e3,
                       row.macs * analysis.batch) for row in rows]
    return times, "cuda" if cuda else "cpu"


def bench(analysis: Analysis, device: str = "auto", train: bool = False, amp: bool = False,
          warmup: int = 3, repeats: int = 10,
          progress: Callable[[str], None] | None = None, profiled: int = PROFILED) -> Bench:
    """Build the analysed network on `device` and measure it (see the module docstring);
    per-layer times are the mean of `profiled` profiled passes."""
    dev = pick_device(device, Dist())
    notes: list[str] = []
    dtype = _amp_dtype(dev, amp, notes)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    if progress:
        what = "training step" if train else "forward"
        progress(f"benchmarking {analysis.network.name} ({what}, batch {analysis.batch}) on "
                 f"{dev.type} ({name}): warm-up {warmup}, repeats {repeats} ...")
    model = build_from_analysis(analysis, device=dev)
    step = _step_fn(model, analysis, dev, train, dtype)
    latencies, memory = _measured(step, dev, warmup, repeats)
    layers, source = _layer_times(model, analysis, dev, dtype, profiled)
    predicted = None
    if train:
        predicted = training_memory(analysis, "sgd", dtype is not None,
                                    "cpu" if dev.type == "cpu" else "cuda")
    return Bench(analysis, dev, name, train, dtype is not None, warmup, repeats, latencies,
                 memory, layers, source, predicted, notes)
