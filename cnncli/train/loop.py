"""The training loop: epochs of steps over the batches, validation, checkpoints, exact
resume (even mid-epoch), metrics files; DDP under torchrun.

Determinism: the sample order of epoch e is a permutation seeded by (seed, e); augmentation
draws from a generator seeded by (seed, e, step); the learning rate is a pure function of
the global step. So a checkpoint needs only the step it was taken at, the optimiser and
scaler states and the global RNG state (dropout) to continue exactly.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CnncliError, UsageError
from ..files import write_atomically
from ..model import checkpoint, compat
from ..spec.freeze import classifier
from ..spec.ir import Network
from ..spec.recipe import TrainOptions
from ..spec.snapshot import snapshot
from .batches import Data, Split, epoch_order, evaluate_split, prepare, score
from .devices import Dist
from .metrics import mean_iou
from .progress import StopFlag
from .schedule import lr_at, make_optimizer
from .task import Task


class RunError(CnncliError):
    """A run that cannot go on (NaN loss, a full disk): exit status 1."""

    exit_code = 1


class Interrupted(CnncliError):
    """Ctrl-C: the state was saved; exit status 130."""

    exit_code = 130


@dataclass
class RunState:
    epoch: int = 0  # epochs completed
    step: int = 0  # steps done in the current epoch
    # the epoch's sums so far; for segmentation also its confusion matrix (a tensor)
    partial: dict[str, Any] = field(default_factory=lambda: {"loss": 0.0, "correct": 0.0,
                                                               "seen": 0.0})
    history: list[dict[str, Any]] = field(default_factory=list)
    best_acc: float | None = None  # the best score: accuracy, or mIoU for segmentation
    best_epoch: int = 0
    bad_epochs: int = 0


class Trainer:
    def __init__(self, network: Network, model: nn.Module, data: Data, options: TrainOptions,
                 out: Path, device: torch.device, dist: Dist, reporter: Any):
        self.network, self.data, self.options, self.out = network, data, options, out
        self.device, self.dist, self.reporter = device, dist, reporter
        self.channels_last = (options.channels_last if options.channels_last is not None
                              else device.type == "cuda")
        model = model.to(device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model  # the plain module: its state_dict keys read like the spec
        head = classifier(network)
        self.optimizer = make_optimizer(model, options, head.path if head else None)
        self.amp_dtype = self._amp_dtype()
        self.scaler = compat.grad_scaler() if self.amp_dtype == torch.float16 else None
        runner: nn.Module = model
        if dist.world > 1:
            runner = nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None)
        if options.compile:
            runner = compat.compile_module(runner)
        self.runner = runner
        self.segmentation = data.task is Task.SEGMENTATION
        self.state = RunState(partial=self._fresh_partial())
        # run.py fits the batch to the data first, so there is at least one step
        self.steps = max(1, len(data.train) // dist.world // options.batch_size)
        self.resume_hint = f"--resume {out}"  # run.py sets the whole command

    def _amp_dtype(self) -> torch.dtype | None:
        if not self.options.amp:
            return None
        if self.device.type != "cuda":
            self.reporter.note("--amp applies to CUDA only; training in float32 here")
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    # -- checkpoints ---------------------------------------------------------------------

    def checkpoint_state(self) -> dict[str, Any]:
        s = self.state
        return {
            "spec": snapshot(self.network),
            "options": self.options.to_dict(),
            "data": self.data.record(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda"
                    else None},
            "epoch": s.epoch, "step": s.step, "partial": dict(s.partial),
            "history": s.history, "best_acc": s.best_acc, "best_epoch": s.best_epoch,
            "bad_epochs": s.bad_epochs, "world": self.dist.world,
        }

    def resume(self, state: dict[str, Any], path: Path) -> None:
        checkpoint.load_weights(self.model, state["model"], path)
        if state.get("world", 1) != self.dist.world and state.get("step", 0):
            raise UsageError(f"{path} was taken mid-epoch with {state.get('world')} processes; "
                             f"resume it with the same number")
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scaler is not None and state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
        except (ValueError, KeyError, RuntimeError) as exc:
            raise UsageError(f"{path}: the optimiser state does not fit this run ({exc}); "
                             "use the same --optimizer") from None
        rng = state.get("rng") or {}
        if isinstance(rng.get("torch"), torch.Tensor):
            torch.set_rng_state(rng["torch"])
        if rng.get("cuda") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(rng["cuda"])
        self.state = RunState(
            epoch=int(state["epoch"]), step=int(state["step"]),
            partial={k: v if isinstance(v, torch.Tensor) else float(v)
                     for k, v in state["partial"].items()},
            history=list(state["history"]), best_acc=state["best_acc"],
            best_epoch=int(state["best_epoch"]), bad_epochs=int(state["bad_epochs"]))

    def save(self, name: str) -> None:
        if not self.dist.main:
            return
        try:
            checkpoint.save(self.checkpoint_state(), self.out / name)
        except OSError as exc:
            raise RunError(f"could not write {self.out / name}: {exc.strerror or exc}; the "
                           "previous checkpoint is intact") from None

    # -- loop ----------------------------------------------------------------------------

    def fit(self) -> RunState:
        options, state = self.options, self.state
        with StopFlag(self.reporter) as stop:
            while state.epoch < options.epochs:
                first_step, started = state.step, time.perf_counter()
                self.reporter.epoch_start(state.epoch + 1, options.epochs, self.steps)
                self._train_epoch(stop)
                train_seconds = time.perf_counter() - started
                train = self._partial_metrics()
                val = self.evaluate(self.data.val) if self.data.val else (None, None, None)
                trained = (self.steps - first_step) * options.batch_size * self.dist.world
                record = {"epoch": state.epoch + 1, **self._scores(train, val),
                          "lr": lr_at((state.epoch + 1) * self.steps - 1, self.steps, options),
                          "seconds": round(time.perf_counter() - started, 3),
                          "train_seconds": round(train_seconds, 3),
                          # training images per second: the training phase only
                          "images_per_s": round(trained / train_seconds, 1)}
                state.history.append(record)
                state.epoch, state.step = state.epoch + 1, 0
                state.partial = self._fresh_partial()
                improved = self._track_best(self._best_score(record))
                self.save("last.pt")
                if improved:
                    self.save("best.pt")
                self.write_metrics()
                self.reporter.epoch_end(record, options.epochs, improved)
                if stop.requested and state.epoch < options.epochs:  # Ctrl-C in validation
                    raise Interrupted(f"interrupted after epoch {state.epoch} of "
                                      f"{options.epochs}; resume with: {self.resume_hint}")
                if options.early_stop and state.bad_epochs >= options.early_stop:
                    better = "mIoU" if self.segmentation else "accuracy"
                    self.reporter.say(f"early stop: no better {better} for "
                                       f"{options.early_stop} epochs")
                    break
        return state

    def _fresh_partial(self) -> dict[str, Any]:
        partial: dict[str, Any] = {"loss": 0.0, "correct": 0.0, "seen": 0.0}
        if self.segmentation:
            n = len(self.data.classes)
            partial["confusion"] = torch.zeros(n, n, dtype=torch.int64)
        return partial

    def _scores(self, train: tuple[Any, ...], val: tuple[Any, ...]) -> dict[str, Any]:
        """An epoch's scores under their names: a classifier's as they always were; a
        segmentation run's pixel accuracy and mIoU."""
        if not self.segmentation:
            return {"train_loss": train[0], "train_acc": train[1], "val_loss": val[0],
                    "val_acc": val[1]}
        return {"train_loss": train[0], "train_pixel_acc": train[1], "train_miou": train[2],
                "val_loss": val[0], "val_pixel_acc": val[1], "val_miou": val[2]}

    def _best_score(self, record: dict[str, Any]) -> float:
        """What best.pt is chosen by: accuracy, or mIoU for segmentation; on the validation
        split when there is one, else on the training epoch."""
        metric = "miou" if self.segmentation else "acc"
        held = record[f"val_{metric}"]
        return held if held is not None else record[f"train_{metric}"]

    def _track_best(self, acc: float) -> bool:
        s = self.state
        if s.best_acc is None or acc > s.best_acc:
            s.best_acc, s.best_epoch, s.bad_epochs = acc, s.epoch, 0
            return True
        s.bad_epochs += 1
        return False

    def _train_epoch(self, stop: StopFlag) -> None:
        options, state, data = self.options, self.state, self.data
        self.runner.train()
        order = epoch_order(len(data.train), options.seed, state.epoch, self.dist)
        batches = data.train.batches(order, options.batch_size, state.step, self.steps,
                                     self.device)
        for step, (images, y) in enumerate(batches, start=state.step):
            generator = torch.Generator().manual_seed(
                options.seed * 1_000_003 + state.epoch * 10_007 + step)
            x = prepare(images, data.mean, data.std, options, generator, self.channels_last)
            lr = lr_at(state.epoch * self.steps + step, self.steps, options)
            for group in self.optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
            y = y.long()
            with compat.autocast(self.device, self.amp_dtype):
                logits = self.runner(x)
                loss = F.cross_entropy(logits.float(), y, ignore_index=data.ignore_index,
                                       label_smoothing=options.label_smoothing)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                last = self.out / "last.pt"
                kept = f" (last good checkpoint: {last})" if last.exists() else ""
                raise RunError(f"the loss became {loss_value} at epoch {state.epoch + 1}, "
                               f"step {step + 1}; try a lower --lr or --clip-grad{kept}")
            self.optimizer.zero_grad(set_to_none=True)
            self._backward_and_step(loss)
            p = state.partial
            correct, counted = score(logits.detach(), y, data.ignore_index, p.get("confusion"))
            p["loss"] += loss_value * counted  # the loss is a mean over the counted labels
            p["correct"] += correct
            p["seen"] += counted
            state.step = step + 1
            self.reporter.step(step + 1, loss_value, correct / max(counted, 1),
                               len(y) * self.dist.world)
            if stop.requested:
                self.save("last.pt")
                self.reporter.stop()  # the bar leaves the screen before the message
                raise Interrupted(
                    f"interrupted at epoch {state.epoch + 1}, step {step + 1} of {self.steps}"
                    f"; resume with: {self.resume_hint}")

    def _backward_and_step(self, loss: torch.Tensor) -> None:
        clip = self.options.clip_grad
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if clip:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            return
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.optimizer.step()

    def _partial_metrics(self) -> tuple[float, float] | tuple[float, float, float]:
        """The training epoch's loss and accuracy (pixel accuracy and mIoU for
        segmentation), summed over every process."""
        p = self.state.partial
        loss, correct, seen = self.dist.reduce([p["loss"], p["correct"], p["seen"]],
                                               self.device)
        scores = round(loss / max(seen, 1), 6), round(correct / max(seen, 1), 6)
        if "confusion" not in p:
            return scores
        return (*scores, self._miou(p["confusion"]))

    def _miou(self, confusion: torch.Tensor) -> float:
        """mIoU of the confusion matrices of every process, summed."""
        summed = self.dist.reduce([float(v) for v in confusion.flatten().tolist()], self.device)
        return round(mean_iou(torch.tensor(summed).view(confusion.shape)), 6)

    @torch.inference_mode()
    def evaluate(self, split: Split) -> tuple[float, float] | tuple[float, float, float]:
        self.runner.eval()
        n = len(self.data.classes)
        confusion = torch.zeros(n, n, dtype=torch.int64) if self.segmentation else None
        loss_sum, correct, seen = evaluate_split(self.model, split, self.data, self.device,
                                                 self.options.batch_size * 2,
                                                 self.channels_last, self.amp_dtype, self.dist,
                                                 confusion)
        self.runner.train()
        scores = round(loss_sum / max(seen, 1), 6), round(correct / max(seen, 1), 6)
        return scores if confusion is None else (*scores, self._miou(confusion))

    def write_metrics(self) -> None:
        if not self.dist.main:
            return
        lines = "".join(json.dumps(r) + "\n" for r in self.state.history)
        write_atomically(self.out / "metrics.jsonl", lines)
        keys = list(self.state.history[0]) if self.state.history else []
        rows = [",".join(keys)] + [",".join("" if r[k] is None else str(r[k]) for k in keys)
                                   for r in self.state.history]
        write_atomically(self.out / "metrics.csv", "\n".join(rows) + "\n")
