"""What a run shows: the header with the recipe, a live progress bar on a terminal, one row
per epoch under a column header, `note:` lines on stderr, and a short closing summary.

Everything fits an 80-column terminal: the epoch rows are at most 79 characters and the
progress bar gets a fixed width, so nothing wraps.
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from ..errors import tell

WIDTH = 79  # the widest line a run prints itself (an 80-column terminal, less the cursor)

# epoch rows: the column header once, then one row per epoch under it
COLUMNS = (f"{'epoch':>7}  {'train loss':>10} {'acc':>6}  {'val loss':>8} {'acc':>6}  "
           f"{'lr':>8}  {'img/s':>7} {'time':>7}")
# a segmentation run's rows: pixel accuracy, and the validation mIoU (metrics.csv has both
# mIoUs); img/s and time are a column narrower to make room
SEGMENTATION_COLUMNS = (f"{'epoch':>7}  {'train loss':>10} {'acc':>6}  {'val loss':>8} "
                        f"{'acc':>6} {'mIoU':>6}  {'lr':>8} {'img/s':>6} {'time':>6}")


def score_name(record: dict[str, Any]) -> str:
    """What a run's best epoch is chosen by, for this epoch's record: 'val acc', 'train acc',
    'val mIoU' or 'train mIoU'."""
    segmentation = "val_miou" in record
    held = record["val_miou" if segmentation else "val_acc"] is not None
    return f"{'val' if held else 'train'} {'mIoU' if segmentation else 'acc'}"


def plural(count: int, word: str) -> str:
    """'1 epoch', '2 epochs'."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def epoch_row(record: dict[str, Any], epochs: int, improved: bool) -> str:
    """One epoch as a row under COLUMNS (at most WIDTH characters)."""
    if "val_miou" in record:
        return _segmentation_row(record, epochs, improved)
    val = (f"{'—':>8} {'—':>6}" if record["val_acc"] is None else
           f"{record['val_loss']:>8.4f} {record['val_acc']:>6.4f}")
    done = f"{record['epoch']}/{epochs}"
    return (f"{done:>7}  {record['train_loss']:>10.4f} {record['train_acc']:>6.4f}  {val}  "
            f"{record['lr']:>8.2e}  {record['images_per_s']:>7,.0f} "
            f"{record['seconds']:>6.1f}s{' best' if improved else ''}")


def _segmentation_row(record: dict[str, Any], epochs: int, improved: bool) -> str:
    val = (f"{'—':>8} {'—':>6} {'—':>6}" if record["val_miou"] is None else
           f"{record['val_loss']:>8.4f} {record['val_pixel_acc']:>6.4f} "
           f"{record['val_miou']:>6.4f}")
    done = f"{record['epoch']}/{epochs}"
    return (f"{done:>7}  {record['train_loss']:>10.4f} {record['train_pixel_acc']:>6.4f}  "
            f"{val}  {record['lr']:>8.2e} {record['images_per_s']:>6,.0f} "
            f"{record['seconds']:>5.1f}s{' best' if improved else ''}")


def recipe_line(options: Any) -> str:
    """The values that explain the numbers a run prints, wrapped to WIDTH."""
    parts = [plural(options.epochs, "epoch"), f"batch {options.batch_size}",
             f"{options.optimizer} lr {options.lr:.3g}"]
    if options.optimizer == "sgd":
        parts[-1] += f" momentum {options.momentum:g}" + (" nesterov" if options.nesterov
                                                          else "")
    parts.append(f"weight decay {options.weight_decay:g}")
    parts.append(f"schedule {options.schedule}")
    parts.append(f"warm-up {plural(int(options.warmup), 'epoch')}"
                 if options.warmup == int(options.warmup) and options.warmup
                 else f"warm-up {options.warmup:g} epochs" if options.warmup else "no warm-up")
    if options.label_smoothing:
        parts.append(f"label smoothing {options.label_smoothing:g} (in the train loss only)")
    else:
        parts.append("no label smoothing")
    # each part stays whole on a line: "schedule" never ends a line without its value
    glued = ", ".join(part.replace(" ", "\0") for part in parts)
    return textwrap.fill("recipe: " + glued, WIDTH, subsequent_indent="  ",
                         break_on_hyphens=False, break_long_words=False).replace("\0", " ")


class Reporter:
    """Live progress on a terminal (rich), one plain row per epoch, notes on stderr."""

    def __init__(self, enabled: bool):
        from rich.console import Console

        self.enabled = enabled
        self.console = Console(highlight=False)
        self.live = enabled and self.console.is_terminal
        self.progress: Any = None
        self.task: Any = None
        self.images = 0
        self.started = 0.0
        self.rows = 0

    def say(self, text: str) -> None:
        """A line of the run's report, on stdout."""
        if self.enabled:
            print(text, flush=True)

    def note(self, text: str) -> None:
        """A choice made for the user, on stderr (stdout stays the report)."""
        if self.enabled:
            self.stop()
            tell("note", text)

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        self.images, self.started = 0, time.perf_counter()
        if not self.live:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        # fixed widths: about 70 columns with 4-digit step counts, so 80 never wraps
        self.progress = Progress(
            TextColumn(f"epoch {epoch}/{epochs}"), BarColumn(bar_width=16),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f} acc {task.fields[acc]:.4f} "
                       "{task.fields[speed]:,.0f} img/s"),
            console=self.console, transient=True)
        self.progress.start()
        self.task = self.progress.add_task("train", total=steps, loss=0.0, acc=0.0, speed=0.0)

    def step(self, step: int, loss: float, acc: float, images: int) -> None:
        self.images += images
        if self.progress is not None:
            speed = self.images / max(time.perf_counter() - self.started, 1e-9)
            self.progress.update(self.task, completed=step, loss=loss, acc=acc, speed=speed)

    def stop(self) -> None:
        """Take the progress bar off the screen (before any other line is printed)."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def stopping(self) -> None:
        """Ctrl-C was pressed: said above the bar, which stays until the step ends."""
        text = "stopping after this step (Ctrl-C again to quit at once)"
        if self.progress is not None:
            self.progress.console.print(text)
        elif self.enabled:
            print(f"\n{text}", file=sys.stderr, flush=True)

    def epoch_end(self, record: dict[str, Any], epochs: int, improved: bool) -> None:
        self.stop()
        if not self.enabled:
            return
        if self.rows == 0:
            print(SEGMENTATION_COLUMNS if "val_miou" in record else COLUMNS, flush=True)
        self.rows += 1
        print(epoch_row(record, epochs, improved), flush=True)

    def final(self, state: Any, out: Path, seconds: float) -> None:
        """Where the run ended and where its files are; the epoch rows are already above."""
        if not self.enabled or not state.history:
            return
        best = next((r for r in state.history if r["epoch"] == state.best_epoch), None)
        which = score_name(best) if best is not None else "train acc"
        print(f"done: {plural(len(state.history), 'epoch')} in {seconds:.1f}s; best "
              f"{which} {state.best_acc:.4f} at epoch {state.best_epoch} (best.pt)", flush=True)
        print(f"run folder: {out} (best.pt, last.pt, metrics.csv, run.json)", flush=True)


class StopFlag:
    """First Ctrl-C asks the loop to save and stop after the current step; a second one
    exits at once."""

    def __init__(self, reporter: Any = None) -> None:
        self.requested = False
        self.previous: Any = None
        self.reporter = reporter

    def __enter__(self) -> StopFlag:
        try:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread (e.g. under a test runner's thread)
            self.previous = None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            os._exit(130)
        self.requested = True
        if self.reporter is not None:
            self.reporter.stopping()
