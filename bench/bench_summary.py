"""Start-up and scaling of `cnncli summary`, the torch-free analysis path.

1. Whole-process time of `cnncli summary resnet152` against `python -c "import torch"`,
   run back to back and interleaved (one warm-up each, then N runs each), plus
   `summary resnet152 --format json` and `cnncli list`.
2. Linear scaling of the analysis: specs of L = 1,000 .. 10,000 leaf layers (conv 3x3 pad 1
   + batchnorm + relu on a 16x32x32 input), written as a `repeat`, as a flat literal list
   (which stresses the YAML reader) and as a flat list of `sequence` composites (each a
   scope of names for `from:`), timed in-process with cnncli.analyze()
   and as a whole process with `cnncli summary PATH --format json`.
3. A short summary block to paste into an issue note.

Standard library only (cnncli itself is imported for the in-process timings).
Run: python bench/bench_summary.py [--runs N] [--scale-runs M]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

PY = sys.executable
SUMMARY = [PY, "-m", "cnncli", "summary", "resnet152"]
SUMMARY_JSON = [*SUMMARY, "--format", "json"]
LIST = [PY, "-m", "cnncli", "list"]
TORCH = [PY, "-c", "import torch"]
SIZES = (1_000, 2_500, 5_000, 10_000)
BODY = ("{conv: {out: 16, kernel: 3, padding: 1}}", "batchnorm", "relu")
LIMIT_S = 1.0  # the target: a 10,000-layer spec analysed in under this, whole process


def run_once(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    return time.perf_counter() - start


def stats(times: list[float]) -> tuple[float, float, float]:
    return statistics.median(times), min(times), max(times)


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.1f} ms"


# -- 1. start-up ----------------------------------------------------------------------------

def startup(runs: int) -> dict[str, list[float]]:
    cmds = {"summary resnet152": SUMMARY, "import torch": TORCH,
            "summary resnet152 --format json": SUMMARY_JSON, "list": LIST}
    for cmd in cmds.values():  # warm-up: page cache, .pyc files
        run_once(cmd)
    times: dict[str, list[float]] = {label: [] for label in cmds}
    for _ in range(runs):  # interleaved, so drift hits every command alike
        for label, cmd in cmds.items():
            times[label].append(run_once(cmd))
    return times


def print_startup(times: dict[str, list[float]], runs: int) -> None:
    print(f"== 1. Whole-process time, {runs} interleaved runs each (after 1 warm-up) ==")
    print(f"{'command':40} {'median':>11} {'min':>11} {'max':>11}")
    for label, ts in times.items():
        med, lo, hi = stats(ts)
        name = "python -c 'import torch'" if label == "import torch" else f"cnncli {label}"
        print(f"{name:40} {fmt_ms(med)} {fmt_ms(lo)} {fmt_ms(hi)}")
    ratio = statistics.median(times["summary resnet152"]) / statistics.median(times["import torch"])
    print(f"ratio cnncli summary resnet152 / import torch (medians): {ratio:.3f}")
    print()


# -- 2. scaling -----------------------------------------------------------------------------

KINDS = ("repeat", "flat", "nested")


def write_specs(folder: str, layers: int) -> dict[str, str]:
    """Three specs of exactly `layers` leaf layers: a repeat, a flat literal list, and a flat
    list of composites (each a scope of names for `from:` inside an enclosing one)."""
    count, rest = divmod(layers, len(BODY))
    header = "name: scale_{kind}_{n}\ninput: [16, 32, 32]\nlayers:\n"
    repeat = header.format(kind="repeat", n=layers) + (
        f"  - repeat: {{count: {count}, body: [ {', '.join(BODY)} ]}}\n"
        + "".join(f"  - {BODY[i]}\n" for i in range(rest)))
    flat = header.format(kind="flat", n=layers) + "".join(
        f"  - {BODY[i % len(BODY)]}\n" for i in range(layers))
    paths = {}
    nested = header.format(kind="nested", n=layers) + "".join(
        f"  - sequence: {{layers: [ {', '.join(BODY)} ]}}\n" for _ in range(count)) + "".join(
        f"  - {BODY[i]}\n" for i in range(rest))
    for kind, text in (("repeat", repeat), ("flat", flat), ("nested", nested)):
        paths[kind] = os.path.join(folder, f"{kind}_{layers}.yaml")
        with open(paths[kind], "w") as f:
            f.write(text)
    return paths


def count_layers(path: str) -> int:
    out = subprocess.run([PY, "-m", "cnncli", "summary", path, "--format", "json"],
                         capture_output=True, text=True, check=True).stdout
    return len(json.loads(out)["layers"])


def scaling(runs: int) -> dict[tuple[str, int], dict[str, float]]:
    import cnncli

    results: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="cnncli-bench-") as folder:
        specs = {n: write_specs(folder, n) for n in SIZES}
        for n, paths in specs.items():
            for kind, path in paths.items():
                rows = count_layers(path)  # also the whole-process warm-up
                if rows != n:
                    raise SystemExit(f"{path}: expected {n} layers in the JSON, got {rows}")
                cnncli.analyze(path)  # in-process warm-up
                inproc, whole = [], []
                for _ in range(runs):
                    start = time.perf_counter()
                    cnncli.analyze(path)
                    inproc.append(time.perf_counter() - start)
                    whole.append(run_once([PY, "-m", "cnncli", "summary", path,
                                           "--format", "json"]))
                results[(kind, n)] = {"analyze": statistics.median(inproc),
                                      "process": statistics.median(whole),
                                      "process_max": max(whole)}
    return results


def print_scaling(results: dict[tuple[str, int], dict[str, float]], runs: int) -> bool:
    print(f"== 2. Scaling: medians of {runs} runs (after 1 warm-up), "
          "conv3x3+bn+relu on 16x32x32 ==")
    print(f"{'spec':8} {'layers':>7} {'analyze()':>11} {'us/layer':>9}   "
          f"{'summary --format json':>21} {'us/layer':>9}")
    for (kind, n), r in results.items():
        print(f"{kind:8} {n:7,} {fmt_ms(r['analyze'])} {r['analyze'] / n * 1e6:9.1f}   "
              f"{fmt_ms(r['process']):>21} {r['process'] / n * 1e6:9.1f}")
    print("(whole-process us/layer includes start-up, so it falls with L; the analyze() column"
          " should stay roughly flat if the analysis is linear)")
    for kind in KINDS:
        small, big = results[(kind, SIZES[0])], results[(kind, SIZES[-1])]
        growth = (big["analyze"] / small["analyze"]) / (SIZES[-1] / SIZES[0])
        print(f"{kind}: analyze() per-layer time at {SIZES[-1]:,} / at {SIZES[0]:,} = "
              f"{growth:.2f}x (1.0 = linear)")
    ok = True
    for kind in ("repeat", "flat"):  # the 1-second goal; nested shows the scaling only
        t = results[(kind, SIZES[-1])]["process"]
        passed = t < LIMIT_S
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'}: {SIZES[-1]:,}-layer {kind} spec analysed in under "
              f"{LIMIT_S:g} s (whole process): median {t:.3f} s")
    print()
    return ok


# -- 3. summary block -----------------------------------------------------------------------

def print_summary(argv: list[str], times: dict[str, list[float]],
                  results: dict[tuple[str, int], dict[str, float]], ok: bool, wall: float) -> None:
    med = {label: statistics.median(ts) for label, ts in times.items()}
    print("== 3. Summary (paste into the issue note) ==")
    print(f"command: {' '.join(['python', 'bench/bench_summary.py', *argv])}")
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs; wall time {wall:.1f} s")
    print(f"cnncli summary resnet152:                {med['summary resnet152'] * 1e3:7.1f} ms")
    print(f"cnncli summary resnet152 --format json:  "
          f"{med['summary resnet152 --format json'] * 1e3:7.1f} ms")
    print(f"cnncli list:                             {med['list'] * 1e3:7.1f} ms")
    print(f"python -c 'import torch':                {med['import torch'] * 1e3:7.1f} ms")
    print(f"ratio summary/import torch:              "
          f"{med['summary resnet152'] / med['import torch']:7.3f}")
    for kind in KINDS:
        cells = ", ".join(f"{n // 1000 if n % 1000 == 0 else n / 1000}k "
                          f"{results[(kind, n)]['analyze'] * 1e3:.0f}/"
                          f"{results[(kind, n)]['process'] * 1e3:.0f} ms"
                          for n in SIZES)
        print(f"{kind:6} analyze()/whole process: {cells}")
    print(f"10,000-layer spec under {LIMIT_S:g} s (whole process): {'PASS' if ok else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15,
                        help="runs per command in the start-up comparison (default 15)")
    parser.add_argument("--scale-runs", type=int, default=5,
                        help="runs per spec in the scaling check (default 5)")
    args = parser.parse_args()
    if args.runs < 1 or args.scale_runs < 1:
        parser.error("--runs and --scale-runs must be at least 1")
    start = time.perf_counter()
    times = startup(args.runs)
    print_startup(times, args.runs)
    results = scaling(args.scale_runs)
    ok = print_scaling(results, args.scale_runs)
    print_summary(sys.argv[1:], times, results, ok, time.perf_counter() - start)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
