"""Training benchmarks on real MNIST digits (../shared/data/mnist-10k: 8,000 train, 2,000 test).

1. Throughput: `cnncli train lenet5` against a plain PyTorch loop (TensorDataset +
   DataLoader, the same model, batch size, optimiser and thread count), measured in the
   same run, back to back. Training images per second, median over epochs.
2. Quality: `cnncli train lenet5` with the spec's default recipe for 10 epochs against a
   plain SGD loop (lr 0.01, momentum 0.9, batch 64): test accuracy and wall time.

Run: python bench/bench_train.py [--data-dir DIR] [--epochs-throughput N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import cnncli
from cnncli.train.datasets import read_idx_images, read_idx_labels

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mnist-10k"


def plain_data(data_dir: Path) -> tuple[torch.Tensor, ...]:
    """The hand-written way: float tensors padded to 32x32 and normalised up front
    (cnncli's IDX reader only reads the files; it is not timed)."""
    xtr = F.pad(read_idx_images(data_dir / "train-images-idx3-ubyte.gz"), (2, 2, 2, 2))
    xte = F.pad(read_idx_images(data_dir / "t10k-images-idx3-ubyte.gz"), (2, 2, 2, 2))
    xtr, xte = xtr.float() / 255, xte.float() / 255
    mean, std = xtr.mean(), xtr.std()
    ytr = read_idx_labels(data_dir / "train-labels-idx1-ubyte.gz")
    yte = read_idx_labels(data_dir / "t10k-labels-idx1-ubyte.gz")
    return (xtr - mean) / std, ytr, (xte - mean) / std, yte


def plain_loop(data: tuple[torch.Tensor, ...], epochs: int, batch: int, lr: float,
               seed: int = 0) -> tuple[list[float], float, float]:
    """Images/s per epoch, test accuracy and wall seconds of a textbook training loop."""
    xtr, ytr, xte, yte = data
    torch.manual_seed(seed)
    model = cnncli.build("lenet5", init="torch")
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loader = DataLoader(TensorDataset(xtr, ytr), batch_size=batch, shuffle=True, drop_last=True)
    speeds = []
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        t0, seen = time.perf_counter(), 0
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(y)
        speeds.append(seen / (time.perf_counter() - t0))
    model.eval()
    with torch.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    return speeds, acc, time.perf_counter() - start


def cnncli_train(data_dir: Path, epochs: int, extra: list[str]) -> tuple[list[float], float,
                                                                          float]:
    """Images/s per epoch, final test accuracy and wall seconds of `cnncli train lenet5`."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "cnncli", "train", "lenet5", "--data-dir", str(data_dir),
               "--epochs", str(epochs), "--out", out, "--device", "cpu", *extra]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        history = [json.loads(line) for line in (Path(out) / "metrics.jsonl").open()]
    return [r["images_per_s"] for r in history], history[-1]["val_acc"], wall


def baseline_process(data_dir: Path, epochs: int, batch: int, lr: float) -> dict:
    """The plain loop as a whole process (imports, data, training, one evaluation)."""
    cmd = [sys.executable, __file__, "--baseline", str(epochs), str(batch), str(lr),
           "--data-dir", str(data_dir)]
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs-throughput", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", nargs=3, metavar=("EPOCHS", "BATCH", "LR"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        epochs, batch, lr = int(args.baseline[0]), int(args.baseline[1]), float(args.baseline[2])
        speeds, acc, _ = plain_loop(plain_data(args.data_dir), epochs, batch, lr)
        print(json.dumps({"speeds": speeds, "acc": acc}))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, data {args.data_dir}")

    n = args.epochs_throughput
    base_speed: list[float] = []
    ours_speed: list[float] = []
    for _ in range(args.rounds):  # interleaved, so load on the machine hits both alike
        base_speed += baseline_process(args.data_dir, n, 128, 0.01)["speeds"]
        ours_speed += cnncli_train(args.data_dir, n, ["--batch-size", "128", "--schedule",
                                                      "none", "--label-smoothing", "0"])[0]
    b, o = statistics.median(base_speed), statistics.median(ours_speed)
    print(f"\nthroughput: {args.rounds} rounds x {n} epochs, batch 128, SGD momentum 0.9; "
          "training images/s, median over epochs (training phase only)")
    print(f"  plain loop (TensorDataset + DataLoader): {b:10,.0f}")
    print(f"  cnncli train lenet5                    : {o:10,.0f}")
    print(f"  ratio cnncli / plain: {o / b:.2f}")

    base = baseline_process(args.data_dir, 10, 64, 0.01)
    _, ours_acc, ours_wall = cnncli_train(args.data_dir, 10, [])
    print("\nquality: 10 epochs, test split (2,000 digits), whole processes")
    print(f"  plain SGD lr 0.01 m 0.9 batch 64 : acc {base['acc']:.4f}  wall "
          f"{base['wall']:5.1f} s (evaluates once, at the end)")
    print(f"  cnncli default recipe (lenet5)   : acc {ours_acc:.4f}  wall {ours_wall:5.1f} s "
          "(evaluates and checkpoints every epoch)")


if __name__ == "__main__":
    main()
