"""`cnncli calibrate`: measure this device with microbenchmarks and fit a profile.

Each microbenchmark (`calibrate_cases`) is one cnncli layer (built by its own `build`, as a
network's are) on one input shape, run forward in eval mode under no_grad as `cnncli bench`
runs a network, one call at a time in passes through all of them, smallest to largest
(`_passes`). Its work (kind, ops, activation bytes, weight bytes) comes from the same
function the predictor uses (`analysis.timing.layer_work`), so a fitted rate means the same
thing on both sides. Fresh memory (the buffers a call allocates, where the allocator maps
them new from the operating system: `fresh_above`) costs the same per byte whichever layer
writes it, so one probe measures that rate for the machine (`fresh_rate`). Per kind, after
that time is taken off, a non-negative least-squares fit of time = calls x overhead +
ops / rate + bytes / rate + weight bytes / rate, weighted to relative error, gives the
profile's terms (calls: how many calls of the kind's kernel the layer's module makes,
`Layer.calls`). A training step's extra time (backward over forward) is measured on a conv
block.

On CUDA every call is bracketed by torch.cuda.Event records, with a synchronize before and
after each pass; on the CPU by perf_counter, with torch's thread count recorded in the
profile. Each call's time is the fastest of its passes (on a shared machine slower ones
carry other processes' work), or the median for a layer whose buffers are fresh memory
(`measure`).
"""

from __future__ import annotations

import itertools
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch
from torch import nn

from ..analysis.analyze import DTYPE_BYTES
from ..analysis.profile import KINDS, Profile, Rate, cpu_model, fresh_bytes
from ..analysis.timing import Work, layer_work
from ..layers import REGISTRY, Shape, shape_text
from .calibrate_cases import CASES, OPS, Case
from .devices import Dist, pick_device


class _Op(nn.Module):
    """x + x (reads two maps, writes one) or torch.cat of two halves."""

    def __init__(self, op: str):
        super().__init__()
        self.op = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.op == "add":
            return x + x
        return torch.cat([x, x], 1)


@dataclass
class Sample:
    """One microbenchmark: its work and its measured seconds per call."""

    label: str
    work: Work
    seconds: float


@dataclass
class Bench:
    """A microbenchmark ready to run: the module, its input, what it does."""

    label: str
    work: Work
    module: nn.Module
    x: torch.Tensor


def _layer_bench(case: Case, device: torch.device) -> Bench:
    name, options, shape, batch = case
    layer = REGISTRY[name].create(**options)
    work = layer_work(layer, shape, layer.infer(shape), batch, DTYPE_BYTES["fp32"])
    return Bench(f"{name} {options} {shape_text(shape)} b{batch}", work,
                 layer.build(shape).to(device).eval(), torch.randn(batch, *shape,
                                                                   device=device))


def _op_bench(op: str, shape: Shape, batch: int, device: torch.device) -> Bench:
    n = batch * int(np.prod(shape))
    work = (Work("elementwise", n, 3 * n * 4, 0, buffers=(n * 4,)) if op == "add"
            else Work("elementwise", 0, 2 * 2 * n * 4, 0, buffers=(2 * n * 4,)))
    return Bench(f"{op} {shape_text(shape)} b{batch}", work, _Op(op),
                 torch.randn(batch, *shape, device=device))


LEAD_IN = 8  # small layers run untimed before each pass, so that its first layer is not cold


def _passes(benches: list[Bench], device: torch.device, repeats: int) -> list[list[float]]:
    """Seconds of each bench's call in each of `repeats` passes through all of them, after
    two untimed passes. One call at a time among other layers meets its weights and
    input as a layer inside a network does, not in the cache its own last call left warm (a
    loop over one layer runs big ones up to twice as fast). The pass goes from the smallest
    layer to the largest, so that, as in a network, a layer follows one of about its size:
    a tiny layer right after one that streamed megabytes finds even the interpreter's own
    data evicted and takes twice its in-network time."""
    order = sorted(range(len(benches)),
                   key=lambda i: benches[i].work.act_bytes + benches[i].work.weight_bytes)
    seconds: list[list[float]] = [[] for _ in benches]
    cuda = device.type == "cuda"
    with torch.no_grad():
        for done in range(repeats + 2):
            for i in order[:LEAD_IN]:  # untimed: the pass before ended on the largest
                benches[i].module(benches[i].x)
            took = _cuda_pass(benches, order, device) if cuda else _cpu_pass(benches, order)
            if done >= 2:
                for mine, t in zip(seconds, took):
                    mine.append(t)
    return seconds


def _cpu_pass(benches: list[Bench], order: list[int]) -> list[float]:
    took = [0.0] * len(benches)
    for i in order:
        bench = benches[i]
        begin = time.perf_counter()
        bench.module(bench.x)
        took[i] = time.perf_counter() - begin
    return took


def _cuda_pass(benches: list[Bench], order: list[int], device: torch.device) -> list[float]:
    """Each call between two CUDA events; one synchronize at the end of the pass."""
    events = {i: (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
              for i in order}
    torch.cuda.synchronize(device)
    for i in order:
        start, end = events[i]
        start.record()
        benches[i].module(benches[i].x)
        end.record()
    torch.cuda.synchronize(device)
    took = [0.0] * len(benches)
    for i, (start, end) in events.items():
        took[i] = start.elapsed_time(end) / 1e3
    return took


#: glibc's malloc maps a block over 32 MiB on its own (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit
#: machines) and unmaps it when freed, where it reuses the memory of smaller ones
GLIBC_FRESH_ABOVE = 32 * 2**20


def fresh_above(device: torch.device) -> int | None:
    """The biggest output (bytes) the allocator serves from memory it holds; a bigger one
    is fresh memory, whose pages the operating system faults in and zeroes as they are
    first written (a relu over 49 MiB at batch 16 takes three times as long as over 24).
    None on CUDA (the caching allocator keeps what it frees) and with a C library other
    than glibc (not measured: no fresh term)."""
    if device.type == "cuda" or platform.libc_ver()[0] != "glibc":
        return None
    return GLIBC_FRESH_ABOVE


FRESH_PROBE = 96 * 2**20  # bytes: over glibc's threshold, so fresh memory on every call


def fresh_rate(device: torch.device, above: int | None, repeats: int) -> float | None:
    """GB/s at which the operating system hands out fresh memory, one rate for the machine:
    an add of two maps into a new 96 MiB output against the same add into one kept from
    before, the median of `repeats` timings of each. None where nothing is fresh (`above`
    is None) or the new output costs nothing more."""
    if above is None:
        return None
    x = torch.randn(FRESH_PROBE // 4, device=device)
    out = torch.empty_like(x)
    new = statistics.median(_timings(lambda: torch.add(x, x), repeats, device))
    reused = statistics.median(_timings(lambda: torch.add(x, x, out=out), repeats, device))
    extra = new - reused
    return round(FRESH_PROBE / extra / 1e9, 4) if extra > 0 else None


def _timings(call: Callable[[], Any], repeats: int, device: torch.device) -> list[float]:
    """Seconds of each of `repeats` calls after an untimed one (first calls allocate and
    pack), each between two synchronizes on CUDA."""
    call()
    seconds = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        begin = time.perf_counter()
        call()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds.append(time.perf_counter() - begin)
    return seconds


def measure(device: torch.device, repeats: int, fresh: int | None = None) -> list[Sample]:
    """Every case and op, timed in passes (see `_passes`), each pass's time kept by
    `kept`."""
    benches = [_layer_bench(case, device) for case in CASES]
    benches += [_op_bench(op, shape, batch, device) for op, shape, batch in OPS]
    seconds = _passes(benches, device, repeats)
    return [Sample(b.label, b.work, kept(s, fresh_bytes(b.work.buffers, fresh) > 0))
            for b, s in zip(benches, seconds)]


def kept(seconds: list[float], fresh: bool) -> float:
    """A layer's time from its passes: the fastest (slower ones carry other processes' work
    on a shared machine), or the median for a layer whose buffers are fresh memory. Which
    pass gets memory new from the system varies (a relu over 49 MiB took 8 ms in one pass,
    26 in the next), and in a network such a layer gets it as often as not: the fastest
    pass is the exception."""
    return statistics.median(seconds) if fresh else min(seconds)


# -- fitting --------------------------------------------------------------------------------

def fit(samples: list[Sample], fresh: int | None = None,
        fresh_gbs: float | None = None) -> tuple[Rate, float]:
    """Non-negative least squares of seconds on (calls, ops, act bytes, weight bytes),
    weighted to relative error, once the time of each sample's fresh bytes (those of the
    buffers a call allocates, where together they pass `fresh` bytes) at the machine's
    `fresh_gbs` is taken off: every subset of the four terms is fitted and the best one with
    no negative coefficient kept (15 small fits). Returns the rate (its overhead is per
    call; its fresh rate the machine's) and the fit's median relative error."""
    x = np.array([[s.work.calls, s.work.ops, s.work.act_bytes, s.work.weight_bytes]
                  for s in samples], dtype=float)
    y = np.array([s.seconds for s in samples])
    paging = np.array([fresh_bytes(s.work.buffers, fresh) / (fresh_gbs * 1e9) if fresh_gbs
                       else 0.0 for s in samples])
    w = 1.0 / y
    best: tuple[float, np.ndarray] | None = None
    terms = x.shape[1]
    for size in range(1, terms + 1):
        for cols in itertools.combinations(range(terms), size):
            a = x[:, cols] * w[:, None]
            if np.linalg.matrix_rank(a) < len(cols):
                continue
            coef, *_ = np.linalg.lstsq(a, (y - paging) * w, rcond=None)
            if (coef < 0).any():
                continue
            full = np.zeros(terms)
            full[list(cols)] = coef
            err = float(np.sum(((x @ full + paging) * w - 1.0) ** 2))
            if best is None or err < best[0] - 1e-12:
                best = (err, full)
    assert best is not None  # the overhead alone always fits
    c = best[1]
    rate = Rate(round(float(c[0]) * 1e6, 3),
                *(round(1 / (float(v) * 1e9), 4) if v > 0 else None for v in c[1:]),
                fresh_gbs=fresh_gbs if fresh else None)
    median = statistics.median(abs((x @ c + paging) / y - 1.0))
    return rate, float(median)


def _backward_ratio(device: torch.device, repeats: int) -> float:
    """(forward + backward) / forward - 1 of a conv, batch norm, relu, conv block at batch
    4, each the fastest of `repeats` timings."""
    block = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                          nn.Conv2d(64, 64, 3, padding=1)).to(device)
    x = torch.randn(4, 64, 28, 28, device=device, requires_grad=True)

    def forward() -> None:
        with torch.no_grad():
            block(x)

    def step() -> None:
        block(x).sum().backward()

    block.eval()
    alone = min(_timings(forward, repeats, device))
    block.train()
    return round(max(min(_timings(step, repeats, device)) / alone - 1.0, 0.0), 3)


def calibrate(device: str = "auto", repeats: int = 5,
              progress: Callable[[str], None] | None = None) -> Profile:
    """Measure the device and fit a profile (see the module docstring)."""
    dev = pick_device(device, Dist())
    began = time.perf_counter()
    fresh = fresh_above(dev)
    samples = measure(dev, repeats, fresh)
    paging = fresh_rate(dev, fresh, repeats)
    if progress:
        progress(f"measured {len(samples)} layers in {time.perf_counter() - began:.1f} s")
    kinds, fits = {}, {}
    for kind in KINDS:
        mine = [s for s in samples if s.work.kind == kind]
        kinds[kind], fits[kind] = fit(mine, fresh, paging)
    cuda = dev.type == "cuda"
    name = torch.cuda.get_device_name(dev) if cuda else cpu_model()
    threads = None if cuda else torch.get_num_threads()
    ratio = _backward_ratio(dev, max(repeats, 3))  # one timing alone is too easily disturbed
    seconds = round(time.perf_counter() - began, 1)
    return Profile(
        name, dev.type, True,
        f"measured by cnncli calibrate: {len(samples)} layers, fastest of {repeats} passes, "
        f"fp32, {seconds} s", "sum", ratio, kinds, threads=threads, host_cpu=cpu_model(),
        fresh_above_bytes=fresh,
        extra=(("created", datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")),
               ("torch", torch.__version__), ("seconds", seconds),
               ("fit_median_error", {k: round(v, 4) for k, v in fits.items()})))
