"""Start-up of the static commands against `python -c "import click, yaml"`.

Each round runs the baseline and then every command once, as whole processes (the `cnncli`
script beside this Python, as a user types it), so drift in the machine's load hits the
baseline and the commands alike. A command's ratio is the median over rounds of its time
divided by the same round's baseline time. Goals (issue 23): summary, flops, check,
--version and --help within 1.3x of the baseline, list within 2x; for a zoo name and for a
spec file (the network written out with `cnncli spec NAME -o FILE`).

One warm-up round first (page cache, .pyc files, and cnncli's zoo index and kept answers in
the user cache: a repeated summary, flops or check prints its kept answer). The rows marked
"worked out" run with CNNCLI_RESULTS=off, as a first call or one after an edit does: the
answer is worked out from the spec, not replayed, and is held to the same 1.3x goal.
The commands run with PYTHONDONTWRITEBYTECODE unset, as an installed cnncli runs: its modules
load from .pyc files, as click's and yaml's do (with it set, every cnncli module is compiled
from source on every call, which is no start-up a user sees). Other work on the machine skews
every figure: the load average is printed beside the result.

    python bench/bench_startup.py [--runs 11] [--network resnet50]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = "python -c 'import click, yaml'"
LIMITS = {"list": 2.0}  # every other command: DEFAULT_LIMIT
DEFAULT_LIMIT = 1.3


WORKED_OUT = " (worked out)"


def commands(network: str, spec_file: str) -> dict[str, list[str]]:
    cnncli = str(Path(sys.executable).with_name("cnncli"))
    return {BASELINE: [sys.executable, "-c", "import click, yaml"],
            f"summary {network}": [cnncli, "summary", network],
            f"summary {network} --format json": [cnncli, "summary", network, "--format", "json"],
            f"flops {network}": [cnncli, "flops", network],
            f"check {network}": [cnncli, "check", network],
            f"summary {Path(spec_file).name}": [cnncli, "summary", spec_file],
            f"check {Path(spec_file).name}": [cnncli, "check", spec_file],
            "--version": [cnncli, "--version"],
            "--help": [cnncli, "--help"],
            "list": [cnncli, "list"],
            f"summary {network}{WORKED_OUT}": [cnncli, "summary", network],
            f"flops {network}{WORKED_OUT}": [cnncli, "flops", network],
            f"check {network}{WORKED_OUT}": [cnncli, "check", network],
            f"summary {Path(spec_file).name}{WORKED_OUT}": [cnncli, "summary", spec_file],
            f"check {Path(spec_file).name}{WORKED_OUT}": [cnncli, "check", spec_file]}


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_once(label: str, cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one whole process."""
    env = {**ENV, "CNNCLI_RESULTS": "off"} if label.endswith(WORKED_OUT) else ENV
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True,
                   stdin=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(cmds: dict[str, list[str]], runs: int) -> dict[str, list[tuple[float, float]]]:
    for label, cmd in cmds.items():  # warm-up
        run_once(label, cmd)
    times: dict[str, list[tuple[float, float]]] = {label: [] for label in cmds}
    for _ in range(runs):
        for label, cmd in cmds.items():
            times[label].append(run_once(label, cmd))
    return times


def report(times: dict[str, list[tuple[float, float]]], runs: int, load: str) -> bool:
    """The verdict is on wall time; CPU time (less swayed by other processes) beside it."""
    base = times[BASELINE]
    print(f"{runs} paired rounds (after 1 warm-up); load average before: {load}")
    print(f"{'command':44} {'median':>9} {'min':>9} {'ratio':>7} {'goal':>6} "
          f"{'CPU':>9} {'ratio':>6}")
    ok = True
    for label, ts in times.items():
        med, lo = statistics.median(t[0] for t in ts), min(t[0] for t in ts)
        cpu = statistics.median(t[1] for t in ts)
        if label == BASELINE:
            print(f"{label:44} {med * 1e3:6.1f} ms {lo * 1e3:6.1f} ms {'':15}"
                  f"{cpu * 1e3:6.1f} ms")
            continue
        ratio = statistics.median(t[0] / b[0] for t, b in zip(ts, base))
        cpu_ratio = statistics.median(t[1] / max(b[1], 1e-3) for t, b in zip(ts, base))
        limit = LIMITS.get(label, DEFAULT_LIMIT)
        passed = ratio <= limit
        ok &= passed
        print(f"{'cnncli ' + label:44} {med * 1e3:6.1f} ms {lo * 1e3:6.1f} ms {ratio:6.2f}x "
              f"{limit:5.1f}x {cpu * 1e3:6.1f} ms {cpu_ratio:5.2f}x "
              f"{'ok' if passed else 'MISS'}")
    print(f"load average after: {_load()}")
    return ok


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=11, help="paired rounds (default 11)")
    parser.add_argument("--network", default="resnet50", help="zoo network (default resnet50)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    with tempfile.TemporaryDirectory() as folder:
        spec_file = str(Path(folder) / f"{args.network}.yaml")
        subprocess.run([str(Path(sys.executable).with_name("cnncli")), "spec", args.network,
                        "-o", spec_file], check=True, stderr=subprocess.DEVNULL)
        load = _load()
        ok = report(measure(commands(args.network, spec_file), args.runs), args.runs, load)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
