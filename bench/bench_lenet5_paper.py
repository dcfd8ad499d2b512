"""`cnncli train lenet5_paper` with the spec's recipe, 10 epochs, over several seeds on the
MNIST sample: the final test accuracy of each seed (the target: >= 98%).

    python bench/bench_lenet5_paper.py [DATA_DIR] [--seeds 0,1,2]

Exits 1 when a seed ends below 98%. Slow on CPU (the Table I conv runs as grouped convs):
minutes per seed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist-10k"


def final_accuracy(data_dir: Path, seed: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "cnncli", "train", "lenet5_paper", "--data-dir",
               str(data_dir), "--epochs", "10", "--seed", str(seed), "--out", str(out)]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        lines = (out / "metrics.jsonl").read_text().splitlines()
        return json.loads(lines[-1])["val_acc"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    accs = {int(s): final_accuracy(args.data_dir, int(s)) for s in args.seeds.split(",")}
    for seed, acc in accs.items():
        print(f"  seed {seed}: test accuracy {acc:.4f}")
    print(f"  min {min(accs.values()):.4f}  mean {sum(accs.values()) / len(accs):.4f}")
    sys.exit(0 if min(accs.values()) >= 0.98 else 1)


if __name__ == "__main__":
    main()
