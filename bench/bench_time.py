"""Predicted forward time against measured, for the zoo on this machine (issue 23, point 4).

Calibrates (or takes --profile), then for every zoo network at each batch predicts its forward
time (`cnncli summary --time`) and measures it with the code `cnncli bench` runs (the
fastest of its timed passes, its latency_ms.min: on a shared machine the median carries
other processes' work; per-layer times from its profiled passes). Prints each network's error, the
error per kind of layer (the profiler's per-layer times summed by kind), the median and worst
whole-network error, and Spearman's rank correlation of predicted and measured time per
batch. Goal on the 2-core CPU: median ≤ 15 %, worst ≤ 40 %, Spearman ≥ 0.9.

Every network is measured: --budget seconds per measurement sets how many passes it gets,
from WARMUP warm-up, --repeats timed and PROFILED profiled passes for a small network down to
one warm-up, two timed and one profiled pass for a big one (YOLOv8x at 640, batch 16: some
20 s a pass on 2 cores; the whole zoo at batches 1 and 16 takes about 20 minutes).
--skip-over S leaves out, and names, networks predicted to take over S seconds a pass (a
quick run); a network that runs out of memory is named and left out. --input-scale 0.5
halves every input's height and width. Timings on a shared machine are noisy: the load
average is printed before and after; take the final figures on a quiet machine with the
command printed at the end.

    python bench/bench_time.py [--profile FILE] [--batches 1,16] [--budget 6]
                               [--skip-over S] [--networks a,b] [--input-scale 1.0]
                               [--repeats 5] [--threads N] [--clock wall|cpu]
                               [--save rows.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import cnncli
from cnncli.analysis.profile import KINDS, Profile, read
from cnncli.analysis.timing import Timing, predict
from cnncli.errors import CnncliError
from cnncli.files import write_atomically
from cnncli.layers import shape_text
from cnncli.spec.zoo import zoo_entries
from cnncli.train.bench import PROFILED, bench
from cnncli.train.calibrate import calibrate

WARMUP = 2
GOAL = {"median": 0.15, "worst": 0.40, "spearman": 0.9}


@dataclass(frozen=True)
class Passes:
    """How many times one measurement runs the network."""

    warmup: int
    timed: int
    profiled: int

    @property
    def total(self) -> int:
        return self.warmup + self.timed + self.profiled


def passes(pass_s: float, budget: float, repeats: int) -> Passes:
    """The passes a network whose predicted pass takes `pass_s` seconds gets: all of them
    (WARMUP, `repeats`, PROFILED) where they fit in `budget` seconds, else one warm-up and
    one profiled pass and as many timed ones as fit, at least two."""
    full = Passes(WARMUP, repeats, PROFILED)
    if full.total * pass_s <= budget:
        return full
    return Passes(1, max(2, min(repeats, int(budget / pass_s) - 2)), 1)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cpus"


def ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    for rank, i in enumerate(order):
        out[i] = float(rank)
    return out


def spearman(xs: list[float], ys: list[float]) -> float:
    """Rank correlation (Pearson's on the ranks; ties are rare in timings)."""
    rx, ry = ranks(xs), ranks(ys)
    mx, my = statistics.mean(rx), statistics.mean(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    var = (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5
    return cov / var if var else 1.0


def scaled_input(a: cnncli.Analysis, scale: float) -> str | None:  # type: ignore[name-defined]
    if scale == 1.0:
        return None
    c, h, w = a.input
    return f"{c}x{max(int(h * scale), 1)}x{max(int(w * scale), 1)}"


def per_kind(timing: Timing, measured: dict[str, float],
             latency_ms: float) -> dict[str, tuple[float, float]]:
    """(predicted, measured) ms per kind of layer, over the layers the profiler timed. The
    profiler's own cost per layer (its timed layers' sum over the unprofiled latency, shared
    evenly) is taken off each measured layer first."""
    cost = max(sum(measured.values()) - latency_ms, 0.0) / max(len(measured), 1)
    out: dict[str, tuple[float, float]] = {}
    for path, ms in measured.items():
        terms = timing.leaves.get(path)
        if terms is None:
            continue
        p, m = out.get(terms.work.kind, (0.0, 0.0))
        out[terms.work.kind] = (p + terms.ms, m + max(ms - cost, 0.0))
    return out


def err(predicted: float, measured: float) -> float:
    return predicted / measured - 1.0


SKIPPED: list[str] = []


def skip(name: str, batch: int, why: str) -> None:
    """Name a network left out, and why (listed again at the end)."""
    SKIPPED.append(f"{name} b{batch}: {why}")
    print(f"  skip {SKIPPED[-1]}", flush=True)


def run_one(name: str, batch: int, profile: Profile, args: argparse.Namespace) -> dict | None:
    a = cnncli.analyze(name, batch=batch)
    shape = scaled_input(a, args.input_scale)
    if shape is not None:
        try:
            a = cnncli.analyze(name, batch=batch, input=shape)
        except CnncliError as exc:
            skip(name, batch, str(exc))
            return None
    timing = predict(a, profile)
    pass_s = timing.total_ms / 1e3
    if args.skip_over is not None and pass_s > args.skip_over:
        skip(name, batch, f"input {shape_text(a.input)}: predicted {pass_s:,.1f} s a pass "
                          f"(over --skip-over {args.skip_over:g})")
        return None
    runs = passes(pass_s, args.budget, args.repeats)
    try:
        result = bench(a, "cpu" if profile.device == "cpu" else "cuda", warmup=runs.warmup,
                       repeats=runs.timed, profiled=runs.profiled)
    except (RuntimeError, MemoryError) as exc:  # torch's allocator: "can't allocate memory"
        if "allocate" not in str(exc) and not isinstance(exc, MemoryError):
            raise
        skip(name, batch, f"out of memory ({str(exc).splitlines()[0][:120]})")
        return None
    # the fastest timed pass: on a shared machine the median carries other processes' work
    measured = min(result.latencies_s) * 1e3
    kinds = per_kind(timing, {layer.path: layer.ms for layer in result.layers}, measured)
    row = {"network": name, "batch": batch, "input": list(a.input),
           "predicted_ms": timing.total_ms, "measured_ms": measured,
           "median_ms": result.median_s * 1e3, "timed_passes": runs.timed,
           "error": err(timing.total_ms, measured), "kinds": kinds}
    print(f"  {name:28s} b{batch:<3d} {shape_text(a.input):>11s}  predicted "
          f"{timing.total_ms:9.2f} ms  measured {measured:9.2f} ms (median of "
          f"{runs.timed:2d} {row['median_ms']:9.2f})  error {row['error']:+7.1%}", flush=True)
    return row



def report(rows: list[dict], batches: list[int]) -> bool:
    errors = [abs(r["error"]) for r in rows]
    worst = max(rows, key=lambda r: abs(r["error"]))
    median = statistics.median(errors)
    print(f"\nwhole networks: {len(rows)} measured, median error {median:.1%}, worst "
          f"{abs(worst['error']):.1%} ({worst['network']} b{worst['batch']})")
    ok = median <= GOAL["median"] and abs(worst["error"]) <= GOAL["worst"]
    for batch in batches:
        mine = [r for r in rows if r["batch"] == batch]
        if len(mine) > 2:
            rho = spearman([r["predicted_ms"] for r in mine], [r["measured_ms"] for r in mine])
            ok = ok and rho >= GOAL["spearman"]
            print(f"batch {batch}: Spearman rank correlation {rho:.3f} over {len(mine)} "
                  f"networks; median error "
                  f"{statistics.median(abs(r['error']) for r in mine):.1%}")
    print("\nper kind of layer (profiler's per-layer times less its own cost per layer, "
          "summed per network; the profiler keeps wall time even under --clock cpu):")
    print(f"  {'kind':15s} {'networks':>8s} {'median':>8s} {'worst':>8s}  share of measured")
    total = sum(m for r in rows for _, m in r["kinds"].values())
    for kind in KINDS:
        pairs = [r["kinds"][kind] for r in rows if kind in r["kinds"] and r["kinds"][kind][1]]
        if not pairs:
            continue
        errs = [abs(err(p, m)) for p, m in pairs]
        share = sum(m for _, m in pairs) / total if total else 0.0
        print(f"  {kind:15s} {len(pairs):8d} {statistics.median(errs):8.1%} "
              f"{max(errs):8.1%}  {share:6.1%}")
    if SKIPPED:
        print(f"\nleft out ({len(SKIPPED)}):\n  " + "\n  ".join(SKIPPED))
    print(f"\ngoal (median ≤ 15 %, worst ≤ 40 %, Spearman ≥ 0.9): "
          f"{'met' if ok else 'NOT met'}")
    return ok


def goal_args(argv: list[str]) -> list[str]:
    """This run's options less those that make it a working run (--clock, --threads,
    --profile, --save, --skip-over)."""
    out, skip = [], False
    for arg in argv:
        name = arg.split("=")[0]
        if skip:
            skip = False
        elif name in ("--clock", "--threads", "--profile", "--save", "--skip-over"):
            skip = "=" not in arg
        else:
            out.append(arg)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", type=Path, help="use this profile; default: calibrate")
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--networks", help="comma-separated zoo names; default: all")
    parser.add_argument("--budget", type=float, default=6.0,
                        help="seconds one measurement should take (predicted): sets the "
                             "number of timed passes, at least two; default 6")
    parser.add_argument("--skip-over", type=float,
                        help="leave out networks predicted to take over this many seconds "
                             "a pass; default: none (the whole zoo)")
    parser.add_argument("--input-scale", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--save", type=Path, help="write the rows as JSON here")
    parser.add_argument("--threads", type=int,
                        help="torch's CPU threads for calibration and measurement alike "
                             "(1 keeps clear of one other busy process); default: torch's")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: this process's CPU time in place of wall time, for "
                             "calibration and measurement alike, with one thread: time spent "
                             "descheduled by other processes is not counted. For working on "
                             "the model on a shared machine; the goal is on wall time")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.clock == "cpu":
        if torch.get_num_threads() != 1:
            parser.error("--clock cpu needs --threads 1 (CPU time sums the threads)")
        # cnncli.train.bench and .calibrate read time.perf_counter when they time a call
        time.perf_counter = time.process_time
    print(f"bench_time: {load()}; torch threads {torch.get_num_threads()}; {args.clock} "
          "clock", flush=True)
    began = time.perf_counter()
    if args.profile is not None:
        profile = read(args.profile)
        if profile.threads not in (None, torch.get_num_threads()):
            print(f"note: {args.profile} was calibrated at {profile.threads} threads, "
                  f"measuring at {torch.get_num_threads()}")
    else:
        profile = calibrate("cpu", progress=lambda line: print("  " + line, flush=True))
        print(f"calibrated {profile.label()} in {time.perf_counter() - began:.1f} s",
              flush=True)
    names = args.networks.split(",") if args.networks else sorted(zoo_entries())
    batches = [int(b) for b in args.batches.split(",")]
    rows = [row for batch in batches for name in names
            if (row := run_one(name, batch, profile, args)) is not None]
    ok = report(rows, batches) if rows else False
    if args.clock == "cpu":
        print("(on CPU time at one thread: a figure to work on the model with; the goal is "
              "on wall time at torch's own thread count, on a quiet machine)")
    print(f"bench_time: {load()}; {time.perf_counter() - began:.0f} s in all")
    if args.save:
        write_atomically(args.save, json.dumps(rows, indent=1))
        write_atomically(args.save.with_suffix(".profile.json"),
                         json.dumps(profile.as_dict(), indent=1))
    print("\nThe goal's figures, on a quiet machine (wall time, torch's threads, a fresh "
          "calibration):\n  python bench/bench_time.py " + " ".join(goal_args(sys.argv[1:])))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
