"""`cnncli calibrate`: measure this device with microbenchmarks and fit a profile.

Each microbenchmark is one cnncli layer (built by its own `build`, as a network's are) on
one input shape, run forward in eval mode under no_grad as `cnncli bench` runs a network,
one call at a time in passes through all of them, smallest to largest (`_passes`).
Its work (kind, ops, activation bytes, weight bytes) comes from the same function the
predictor uses (`analysis.timing.layer_work`), so a fitted rate means the same thing on both
sides. Per kind, a non-negative least-squares fit of time = calls x overhead + ops / rate +
bytes / rate + weight bytes / rate + fresh bytes / rate, weighted to relative error, gives
the profile's terms (calls: how many calls of the kind's kernel the layer's module makes,
`Layer.calls`; fresh bytes: of its output and any copy of its input, those the allocator
maps new from the operating system, `fresh_above`). The
shapes span what the zoo's networks do: 3 to 2048 channels, 7x7 to 224x224 maps, batch 1
to 16. A training step's extra time (backward over forward) is measured on a conv block.

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
from .devices import Dist, pick_device

Case = tuple[str, dict[str, Any], Shape, int]  # layer type, options, input shape, batch


def _conv(k: int, pairs: list[tuple[int, int, int]], stride: int = 1,
          batch: int = 1) -> list[Case]:
    return [("conv", {"out": out, "kernel": k, "padding": k // 2, "stride": stride},
             (c, hw, hw), batch) for c, out, hw in pairs]


def _dw(pairs: list[tuple[int, int, int]], batch: int = 1) -> list[Case]:
    return [("conv", {"out": c, "kernel": k, "padding": k // 2, "groups": c}, (c, hw, hw),
             batch) for c, hw, k in pairs]


def _maps(layer: str, pairs: list[tuple[int, int]], batch: int = 1,
          **options: Any) -> list[Case]:
    return [(layer, dict(options), (c, hw, hw), batch) for c, hw in pairs]


def _table(k: int, cases: list[tuple[int, dict[int, int], int, int]]) -> list[Case]:
    """Connection-table convs: (input maps, {row length: output maps}, map size, batch);
    output map i reads `length` consecutive input maps from map i on (wrapping round)."""
    out = []
    for inputs, lengths, hw, batch in cases:
        rows = [n for n, count in lengths.items() for _ in range(count)]
        table = [sorted((i + j) % inputs for j in range(n)) for i, n in enumerate(rows)]
        out.append(("conv", {"out": len(table), "kernel": k, "connections": table},
                    (inputs, hw, hw), batch))
    return out


MAPS = [(16, 112), (64, 112), (256, 56), (512, 28), (1024, 14), (2048, 7), (64, 56)]
CASES: list[Case] = [
    *_conv(3, [(3, 32, 224), (64, 64, 56), (128, 128, 28), (256, 256, 14), (512, 512, 7),
               (32, 32, 112), (64, 64, 28)]),
    *_conv(3, [(64, 128, 56), (256, 256, 28)], stride=2),
    *_conv(3, [(512, 512, 7), (64, 64, 28)], batch=16),
    *_conv(1, [(64, 256, 56), (256, 64, 56), (128, 512, 28), (512, 128, 28), (1024, 256, 14),
               (2048, 512, 7), (16, 96, 112), (960, 160, 7), (48, 16, 28)]),
    *_conv(1, [(512, 2048, 7), (256, 64, 14)], batch=16),
    # squeeze-and-excitation: 1x1 convs on a 1x1 map (EfficientNet, MobileNetV3)
    *_conv(1, [(672, 168, 1), (168, 672, 1), (240, 64, 1), (64, 240, 1), (1152, 48, 1),
               (48, 1152, 1)]),
    *_conv(7, [(3, 64, 224)], stride=2), *_conv(5, [(64, 64, 28), (96, 96, 14)]),
    *[("conv", {"out": o, "kernel": k, "padding": k // 2, "groups": 2}, (c, hw, hw), 1)
      for c, o, hw, k in [(96, 256, 27, 5), (384, 384, 13, 3)]],
    *_conv(11, [(3, 64, 224)], stride=4), *_conv(5, [(48, 128, 28)], batch=16),
    # connection tables: one to three row lengths, so one to three grouped convs
    *_table(3, [(8, {2: 8, 4: 8}, 16, 1), (16, {4: 32}, 28, 1), (16, {4: 32}, 14, 16),
                (32, {8: 32, 16: 32}, 14, 1), (4, {2: 4, 3: 2}, 6, 1), (4, {2: 8}, 4, 1)]),
    *_table(5, [(6, {3: 4, 4: 8, 6: 4}, 12, 1), (6, {3: 4, 4: 8, 6: 4}, 20, 16),
                (12, {3: 12, 5: 12}, 24, 4), (10, {2: 10, 5: 10, 10: 2}, 18, 1)]),
    *[("conv", {"out": c, "kernel": 3, "padding": 1, "groups": 32}, (c, hw, hw), b)
      for c, hw, b in [(128, 56, 1), (256, 28, 1), (512, 14, 1), (1024, 7, 1), (256, 28, 16),
                       (64, 56, 1)]],
    *_dw([(32, 112, 3), (144, 56, 3), (192, 28, 3), (384, 14, 3), (960, 7, 3), (240, 14, 5),
          (672, 7, 5), (16, 112, 3)]),
    *[("linear", {"out": o}, (i,), b) for i, o, b in
      [(512, 1000, 1), (2048, 1000, 1), (4096, 4096, 1), (9216, 4096, 1), (1280, 1000, 1),
       (4096, 4096, 16), (2048, 1000, 16), (120, 84, 1)]],
    *[("rbf", {"out": o}, (i,), b) for i, o, b in
      [(84, 10, 1), (84, 10, 16), (256, 100, 1), (512, 500, 1), (512, 500, 16), (16, 4, 1),
       (120, 10, 4)]],
    *_maps("maxpool", [(64, 112), (64, 224), (256, 56), (512, 14)], kernel=3, stride=2,
           padding=1),
    *_maps("maxpool", [(64, 224), (512, 28)], kernel=2, stride=2),
    *_maps("avgpool", [(256, 56), (6, 28), (128, 28)], kernel=2, stride=2),
    *_maps("avgpool", [(192, 35), (768, 17), (64, 56)], kernel=3, stride=1, padding=1),
    *_maps("avgpool", [(16, 8)], kernel=2, stride=2), *_maps("maxpool", [(8, 8)], kernel=3),
    *_maps("lrn", [(96, 55), (256, 27), (64, 56)]),
    *_maps("global_avgpool", [(512, 7), (2048, 7), (1280, 7), (96, 56), (64, 56)]),
    *_maps("global_avgpool", [(2048, 7)], batch=16),
    *_maps("adaptive_avgpool", [(512, 7), (256, 6)], size=6),
    *_maps("batchnorm", MAPS), *_maps("batchnorm", [(256, 28)], batch=16),
    *_maps("layer_norm", [(96, 56), (768, 7)]),
    *_maps("relu", MAPS), *_maps("relu", [(256, 28)], batch=16),
    *_maps("hardswish", [(16, 112), (240, 14)]), *_maps("silu", [(96, 56), (1152, 7)]),
    *_maps("sigmoid", [(240, 1), (32, 16)]), *_maps("gelu", [(96, 56), (768, 7), (384, 28)]),
    *_maps("tanh", [(6, 28), (16, 10)]), *_maps("silu", [(64, 80)], batch=16),
    *[("linear", {"out": o, "pointwise": True}, (c, hw, hw), 1)
      for c, o, hw in [(96, 384, 56), (768, 192, 14)]],
    *_maps("flatten", [(512, 1), (256, 6)]), *_maps("dropout", [(512, 1)], p=0.5),
    # tiny layers, where the call is all there is: they pin each kind's fixed overhead
    *_conv(3, [(8, 8, 8), (16, 16, 4)]), *_conv(1, [(16, 16, 7), (8, 32, 4)]),
    *_conv(5, [(6, 16, 14), (1, 6, 32)]), *_dw([(16, 7, 3), (32, 4, 5)]),
    *[("conv", {"out": 16, "kernel": 3, "padding": 1, "groups": 4}, (16, hw, hw), 1)
      for hw in (4, 8)],
    *[("linear", {"out": o}, (i,), 1) for i, o in [(16, 10), (84, 10)]],
    *_maps("maxpool", [(6, 28), (16, 8)], kernel=2, stride=2), *_maps("lrn", [(8, 8)]),
    *_maps("global_avgpool", [(16, 2), (32, 4)]),
    *_maps("batchnorm", [(16, 4), (8, 8)]), *_maps("relu", [(16, 4), (8, 8)]),
    *_maps("flatten", [(16, 1)]), *_maps("dropout", [(64, 1)], p=0.2),
    # at batch 16 on 224 pixels: outputs of 24 MiB, and of 38 to 98 MiB, fresh memory
    # (`fresh_above`), as the first layers of the zoo's networks have; convs whose input
    # copy is fresh and output is not (DenseNet's transitions, MobileNet's strided ones)
    *_conv(1, [(16, 64, 112), (32, 128, 56), (128, 256, 56), (256, 128, 56)], batch=16),
    ("conv", {"out": 96, "kernel": 3, "padding": 1, "stride": 2, "groups": 96},
     (96, 112, 112), 16),
    ("linear", {"out": 4096}, (9216,), 16),
    *_conv(3, [(16, 64, 112), (32, 64, 112)], batch=16),
    *_conv(7, [(3, 64, 224)], stride=2, batch=16),
    *_dw([(64, 112, 3), (128, 56, 3)], batch=16),
    *[("conv", {"out": 256, "kernel": 3, "padding": 1, "groups": 32}, (256, 56, 56), 16)],
    *_maps("maxpool", [(64, 224)], 16, kernel=2, stride=2),
    *_maps("batchnorm", [(64, 112), (128, 112)], 16), *_maps("relu", [(64, 112), (128, 112)], 16),
    *_maps("silu", [(64, 112)], 16), *_maps("gelu", [(192, 56)], 16),
    *_maps("hardswish", [(32, 112)], 32),
]
#: a composite's own work, timed as torch does it: an add of two maps, a concat of two
OPS = [("add", (256, 56, 56), 1), ("add", (64, 56, 56), 1), ("add", (1024, 14, 14), 1),
       ("add", (2048, 7, 7), 16), ("concat", (128, 28, 28), 1), ("concat", (32, 56, 56), 1),
       ("add", (64, 112, 112), 16)]


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


def _fastest(call: Callable[[], Any], repeats: int, device: torch.device) -> float:
    """Seconds of the fastest of `repeats` calls after an untimed one (first calls allocate
    and pack), each between two synchronizes on CUDA."""
    call()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        begin = time.perf_counter()
        call()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - begin)
    return best


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

def fit(samples: list[Sample], fresh: int | None = None) -> tuple[Rate, float]:
    """Non-negative least squares of seconds on (calls, ops, act bytes, weight bytes, fresh
    bytes: those of each buffer a call allocates over `fresh` bytes), weighted to relative
    error: every subset of the terms is fitted and the best one with no negative coefficient
    kept (five terms: 31 small fits). Returns the rate (its overhead is per call) and the
    fit's median relative error."""
    x = np.array([[s.work.calls, s.work.ops, s.work.act_bytes, s.work.weight_bytes,
                   fresh_bytes(s.work.buffers, fresh)] for s in samples], dtype=float)
    y = np.array([s.seconds for s in samples])
    w = 1.0 / y
    best: tuple[float, np.ndarray] | None = None
    terms = x.shape[1]
    for size in range(1, terms + 1):
        for cols in itertools.combinations(range(terms), size):
            a = x[:, cols] * w[:, None]
            if np.linalg.matrix_rank(a) < len(cols):
                continue
            coef, *_ = np.linalg.lstsq(a, y * w, rcond=None)
            if (coef < 0).any():
                continue
            full = np.zeros(terms)
            full[list(cols)] = coef
            err = float(np.sum((x @ full * w - 1.0) ** 2))
            if best is None or err < best[0] - 1e-12:
                best = (err, full)
    assert best is not None  # the overhead alone always fits
    c = best[1]
    rate = Rate(round(float(c[0]) * 1e6, 3),
                *(round(1 / (float(v) * 1e9), 4) if v > 0 else None for v in c[1:]))
    median = statistics.median(abs(x @ c / y - 1.0))
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
    alone = _fastest(forward, repeats, device)
    block.train()
    return round(max(_fastest(step, repeats, device) / alone - 1.0, 0.0), 3)


def calibrate(device: str = "auto", repeats: int = 5,
              progress: Callable[[str], None] | None = None) -> Profile:
    """Measure the device and fit a profile (see the module docstring)."""
    dev = pick_device(device, Dist())
    began = time.perf_counter()
    fresh = fresh_above(dev)
    samples = measure(dev, repeats, fresh)
    if progress:
        progress(f"measured {len(samples)} layers in {time.perf_counter() - began:.1f} s")
    kinds, fits = {}, {}
    for kind in KINDS:
        mine = [s for s in samples if s.work.kind == kind]
        kinds[kind], fits[kind] = fit(mine, fresh)
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
