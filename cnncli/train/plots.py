"""Training curves as a PNG (matplotlib is an optional extra)."""

from __future__ import annotations

import json
from pathlib import Path

from ..analysis import figures
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
        from matplotlib.ticker import MaxNLocator, PercentFormatter
    except ImportError:
        raise UsageError("plots need matplotlib: pip install 'cnncli[plot]'") from None

    epochs = [r["epoch"] for r in history]
    figure = Figure(figsize=(10, 4.2), dpi=110, layout="constrained")
    loss_ax, acc_ax = figure.subplots(1, 2)
    # a segmentation run draws its pixel accuracy and its mIoU on the accuracy axes
    scores = [("acc", "")] if "train_acc" in history[0] else \
        [("pixel_acc", " pixel acc"), ("miou", " mIoU")]
    for axis, keys, title in ((loss_ax, [("loss", "")], "Loss"),
                              (acc_ax, scores, "Accuracy")):
        for key, what in keys:
            axis.plot(epochs, [r[f"train_{key}"] for r in history], marker="o",
                      label=f"train{what}")
            val = [r[f"val_{key}"] for r in history]
            if any(v is not None for v in val):
                axis.plot(epochs, val, marker="o", label=f"validation{what}")
        key = keys[0][0]
        axis.set_title(title, loc="left", fontsize=11)
        axis.set_xlabel("epoch")
        axis.set_ylabel(key if key == "loss" else "accuracy")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend()
    acc_ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    figure.suptitle(f"Training curves: {run_dir.resolve().name}, {len(history)} "
                    f"epoch{'s' if len(history) != 1 else ''}")
    figures.save(figure, target, "png")
    return target
