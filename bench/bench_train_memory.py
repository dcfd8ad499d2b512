"""The full sweep behind tests/analysis/test_training_memory.py: every zoo network on CPU (real
tensors, not meta) at batches 1 and 16, predicted saved activations against the
saved_tensors_hooks oracle, with torchinfo's "forward/backward pass size" rule (2 x the
outputs of layers with parameters) as the baseline. Prints pred/oracle and baseline/oracle.

    python bench/bench_train_memory.py [--batches 1,16] [--device cpu|meta]
"""

from __future__ import annotations

import argparse
import time

import torch

import cnncli
from cnncli.analysis.training import training_memory
from cnncli.model.memory import saved_activation_bytes
from cnncli.spec.zoo import zoo_entries


def torchinfo_rule(analysis: cnncli.Analysis) -> int:  # type: ignore[name-defined]
    """2 x the output bytes of every layer with parameters (torchinfo's estimate)."""
    rows = [r for r in analysis.root.walk() if r.is_leaf and r.params]
    return sum(2 * r.activations * analysis.batch * 4 for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    for name in sorted(zoo_entries()):
        for batch in map(int, args.batches.split(",")):
            start = time.perf_counter()
            analysis = cnncli.analyze(name, batch=batch)
            pred = training_memory(analysis, device="cpu").saved_activation_bytes
            model = cnncli.build(name, device=args.device)
            x = torch.zeros(batch, *analysis.input, device=args.device)
            real = saved_activation_bytes(model, x)
            print(f"{name:22s} batch {batch:3d}  oracle {real:>14,}  predicted {pred:>14,}  "
                  f"pred/oracle {pred / real:.4f}  torchinfo/oracle "
                  f"{torchinfo_rule(analysis) / real:.2f}  ({time.perf_counter() - start:.1f} s)",
                  flush=True)


if __name__ == "__main__":
    main()
