"""Training curves as a PNG (matplotlib is an optional extra)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UsageError


def plot_run(run_dir: Path, target: Path) -> Path:
    metrics = run_dir / "metrics.jsonl"
    if not metrics.is_file():
        raise UsageError(f"{run_dir} has no metrics.jsonl: is it a cnncli run folder?")
    try:
        history = [json.loads(line) for line in metrics.read_text().splitlines() if line]
    except json.JSONDecodeError as exc:
        raise UsageError(f"{metrics} is corrupt: {exc}") from None
    if not history:
        raise UsageError(f"{metrics} holds no epochs yet")
    try:
        # Figure alone, not pyplot: pyplot's import costs half a second at the end of a run.
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise UsageError("plots need matplotlib: pip install 'cnncli[plot]'") from None
    epochs = [r["epoch"] for r in history]
    figure = Figure(figsize=(10, 4))
    loss_ax, acc_ax = figure.subplots(1, 2)
    for axis, key, title in ((loss_ax, "loss", "Loss"), (acc_ax, "acc", "Accuracy")):
        axis.plot(epochs, [r[f"train_{key}"] for r in history], marker="o", label="train")
        val = [r[f"val_{key}"] for r in history]
        if any(v is not None for v in val):
            axis.plot(epochs, val, marker="o", label="validation")
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(run_dir.name)
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.85, wspace=0.2)
    tmp = target.with_name(f".{target.name}.tmp")
    figure.savefig(tmp, dpi=100, format="png")
    tmp.replace(target)
    return target
