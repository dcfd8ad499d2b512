"""The three commands cnncli was asked for, typed verbatim as a new user would, timed.

    cnncli summary alexnet.yaml
    cnncli flops googlenet
    cnncli train lenet --epochs 10

Each runs from an empty folder with an empty HOME and no network (tests/offline_site), so
`train` finds no MNIST, cannot download it, and trains on the shipped 10,000-digit sample.
Prints the median wall time of each command over --runs (the training once per run), and
the final test accuracy of each training run against a bar of 98.5 %.

    python bench/bench_first_run.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OFFLINE_SITE = ROOT / "tests" / "offline_site"
COMMANDS = ("cnncli summary alexnet.yaml", "cnncli flops googlenet",
            "cnncli train lenet --epochs 10")
BAR = 0.985


def run_once(command: str) -> tuple[float, str, str, int]:
    """(seconds, stdout, stderr, exit status) of one command in a fresh empty folder."""
    with tempfile.TemporaryDirectory(prefix="cnncli-first-run-") as tmp:
        home, work = Path(tmp, "home"), Path(tmp, "work")
        home.mkdir()
        work.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CNNCLI_")}
        env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
                   PYTHONPATH=str(OFFLINE_SITE))
        cnncli = Path(sys.executable).with_name("cnncli")
        start = time.perf_counter()
        done = subprocess.run([str(cnncli), *command.split()[1:]], cwd=work, env=env,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        return time.perf_counter() - start, done.stdout, done.stderr, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {c: [] for c in COMMANDS}
    accuracies = []
    for _ in range(args.runs):
        for command in COMMANDS:
            seconds, out, err, code = run_once(command)
            if code != 0:
                sys.exit(f"{command} failed (exit {code}):\n{err}")
            times[command].append(seconds)
            if "train" in command:
                # the epoch rows: epoch, train loss, train acc, val loss, val acc, ...
                rows = re.findall(r"^ +\d+/\d+ +\S+ \S+ +\S+ (\S+)", out, re.M)
                accuracies.append(float(rows[-1]))
    print(f"{args.runs} runs each, offline, empty folder and HOME; median wall time:")
    for command, values in times.items():
        print(f"  {command:<34} {statistics.median(values):7.2f} s")
    verdict = "meets" if min(accuracies) >= BAR else "MISSES"
    print(f"test accuracy after 10 epochs on mnist-sample: "
          f"{', '.join(f'{a:.2%}' for a in accuracies)} ({verdict} the {BAR:.1%} bar)")
    if min(accuracies) < BAR:
        sys.exit(1)


if __name__ == "__main__":
    main()
