"""How long `cnncli diagram` takes on the zoo's largest networks, against `cnncli summary` of
the same network (the baseline: the same start-up, load and analysis, then a table).

    python bench/bench_diagram.py [--runs 7]

Prints the median whole-process time of each and the ratio, and the median time of the
drawing alone (layout and SVG text, in-process) at each depth.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = (("resnet152", "1"), ("resnet152", "2"), ("googlenet", "2"), ("googlenet", None))


def whole(args: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cnncli", *args], check=True,
                       capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def drawing(name: str, depth: str | None, runs: int) -> float:
    from cnncli.analysis.analyze import analyze
    from cnncli.analysis.diagram import svg

    a = analyze(name)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        svg(a, int(depth) if depth else None)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    print(f"median of {runs} runs; whole processes, then the drawing alone")
    with tempfile.TemporaryDirectory() as tmp:
        for name, depth in CASES:
            d = ["--depth", depth] if depth else []
            page = str(Path(tmp) / "page.html")
            base = whole(["summary", name, *d], runs)
            mine = whole(["diagram", name, *d, "-o", page], runs)
            draw = drawing(name, depth, runs)
            print(f"  {name:<10} depth {depth or 'all':<4} summary {base:6.3f} s   diagram (html) "
                  f"{mine:6.3f} s   ratio {mine / base:5.2f}   drawing alone {draw * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
