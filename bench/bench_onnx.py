"""`cnncli summary model.onnx` against onnx-tool profiling the same file, whole processes.

onnx-tool (a peer for ONNX profiling) is not a dependency of cnncli: give the Python of an
environment that has it (`pip install onnx-tool` in a separate venv). The file is torchvision's
ResNet-50 from tests/fixtures/onnx_models.zip (exported by the TorchScript exporter, BatchNorm
folded) with its weights filled in (about 100 MB, as a real file is), unless --file names one.
Each round runs onnx-tool, then cnncli, then cnncli --format json; a ratio is the median over
rounds of cnncli's time over onnx-tool's in the same round (so drift in the machine's load hits
both alike). The load average is printed beside the result.

    python bench/bench_onnx.py --peer /path/to/venv/bin/python [--runs 7] [--file model.onnx]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "fixtures"))


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): "
                         f"{done.stderr.strip()[-400:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer", required=True, help="a Python with onnx-tool installed")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--file", help="the ONNX file (default: ResNet-50, weights filled)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.file:
            model = Path(args.file)
        else:
            import onnx_fixture
            model = onnx_fixture.filled("resnet50.ts17.onnx", Path(folder))
        cnncli = str(Path(sys.executable).with_name("cnncli"))
        runs = {"onnx-tool profile": [args.peer, "-m", "onnx_tool", "-i", str(model),
                                      "-m", "profile"],
                "cnncli summary": [cnncli, "summary", str(model)],
                "cnncli summary --format json": [cnncli, "summary", str(model), "--format",
                                                 "json"]}
        for command in runs.values():  # warm-up: page cache, .pyc files
            timed(command)
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.runs):
            for name, command in runs.items():
                times[name].append(timed(command))
    size = model.stat().st_size if args.file else None
    print(f"file: {args.file or 'resnet50 (torchvision, TorchScript exporter, opset 17)'}"
          f"{f', {size / 1e6:.0f} MB' if size else ''}; {args.runs} rounds; load average "
          f"{os.getloadavg()[0]:.1f}")
    peer = times["onnx-tool profile"]
    for name, values in times.items():
        ratio = statistics.median(v / p for v, p in zip(values, peer))
        print(f"{name:30s} median {statistics.median(values) * 1000:7.0f} ms  "
              f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})  "
              f"{ratio:.2f}x onnx-tool's time")


if __name__ == "__main__":
    main()
