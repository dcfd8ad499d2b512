"""The training loop: in-memory uint8 data on the training device, batched augmentation and
normalisation on tensors, exact resume (even mid-epoch), DDP under torchrun.

Determinism: the sample order of epoch e is a permutation seeded by (seed, e); augmentation
draws from a generator seeded by (seed, e, step); the learning rate is a pure function of
the global step. So a checkpoint needs only the step it was taken at, the optimiser and
scaler states and the global RNG state (dropout) to continue exactly.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CnncliError, UsageError
from ..model import checkpoint, compat
from ..spec.freeze import classifier
from ..spec.ir import Network
from .progress import StopFlag
from .recipe import TrainOptions


class RunError(CnncliError):
    """A run that cannot go on (NaN loss, a full disk): exit status 1."""

    exit_code = 1


class Interrupted(CnncliError):
    """Ctrl-C: the state was saved; exit status 130."""

    exit_code = 130


# -- devices and processes ---------------------------------------------------------------

@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def reduce(self, values: list[float], device: torch.device) -> list[float]:
        """Sum plain numbers across ranks (one all_reduce)."""
        if self.world == 1:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        torch.distributed.all_reduce(tensor)
        return tensor.tolist()


def pick_device(name: str, dist: Dist) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is available")
        return torch.device("cuda", dist.local_rank)
    if name == "mps" and not (getattr(torch.backends, "mps", None)
                              and torch.backends.mps.is_available()):
        raise UsageError("--device mps: the MPS backend is not available")
    return torch.device(name)


def init_dist(device_name: str) -> Dist:
    """Join the process group when started by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    dist = Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    use_cuda = device_name in ("auto", "cuda") and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(dist.local_rank)
    torch.distributed.init_process_group("nccl" if use_cuda else "gloo")
    return dist


# -- data on the device ------------------------------------------------------------------

@dataclass
class Split:
    """A split: one uint8 tensor (N, C, H, W) on the device, or a dataset streamed by
    DataLoader workers (image folders), with int64 labels either way."""

    images: torch.Tensor | None
    labels: torch.Tensor
    dataset: Any = None  # a torch Dataset of (uint8 image, label) when streamed
    workers: int = 0

    def __len__(self) -> int:
        return len(self.labels)

    def batches(self, order: torch.Tensor, batch_size: int, first: int, last: int,
                device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """uint8 images and labels on `device` for batches first..last-1 of `order`."""
        if self.dataset is None:
            assert self.images is not None
            for step in range(first, last):
                idx = order[step * batch_size:(step + 1) * batch_size].to(self.images.device)
                yield self.images[idx], self.labels[idx]
            return
        from .datasets import stream_batches

        chunks = [order[s * batch_size:(s + 1) * batch_size].tolist() for s in range(first, last)]
        pin = device.type == "cuda"
        for images, labels in stream_batches(self.dataset, chunks, self.workers, pin):
            yield images.to(device, non_blocking=pin), labels.to(device, non_blocking=pin)


@dataclass
class Data:
    name: str
    train: Split
    val: Split | None
    classes: list[str]
    mean: list[float]
    std: list[float]
    fit: str | None
    val_source: str  # "test split", "10% of train" or "none"

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "classes": self.classes, "mean": self.mean,
                "std": self.std, "fit": self.fit, "val": self.val_source}


def epoch_order(n: int, seed: int, epoch: int, dist: Dist) -> torch.Tensor:
    """This rank's sample order for an epoch: same on every rank, then sharded."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=generator)
    per_rank = n // dist.world
    return order[dist.rank * per_rank:(dist.rank + 1) * per_rank]


def prepare(images: torch.Tensor, mean: list[float], std: list[float],
            augment: TrainOptions | None = None, generator: torch.Generator | None = None,
            channels_last: bool = False) -> torch.Tensor:
    """uint8 (B, C, H, W) to a float batch normalised per channel; augmented (crop, flip as
    `augment` asks, drawing from `generator`) when training."""
    x = images.float().div_(255)
    if augment is not None and generator is not None:
        if "crop" in augment.augment:
            x = random_crop(x, augment.crop_padding, generator)
        if "flip" in augment.augment:
            flip = torch.rand(len(x), generator=generator).lt(0.5).to(x.device)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    mean_t = torch.tensor(mean, device=x.device)[None, :, None, None]
    std_t = torch.tensor(std, device=x.device)[None, :, None, None]
    x = (x - mean_t) / std_t
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def random_crop(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Pad with zeros and cut each image at a random offset (batched: one slice per offset)."""
    if pad == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
    out = torch.empty_like(x)
    keys = offsets[:, 0] * (2 * pad + 1) + offsets[:, 1]
    for key in keys.unique().tolist():
        rows = (keys == key).nonzero().flatten().to(x.device)
        dy, dx = divmod(key, 2 * pad + 1)
        out[rows] = padded[rows, :, dy:dy + h, dx:dx + w]
    return out


# -- learning rate -----------------------------------------------------------------------

def lr_at(step: int, steps_per_epoch: int, options: TrainOptions) -> float:
    """The learning rate at a global step: warm-up, then the schedule. Pure, so resumable."""
    total = options.epochs * steps_per_epoch
    warm = int(options.warmup * steps_per_epoch)
    if step < warm:
        return options.lr * (step + 1) / warm
    t, span = step - warm, max(1, total - warm)
    if options.schedule == "step":
        return options.lr * options.gamma ** ((step // steps_per_epoch) // options.step_size)
    if options.schedule == "cosine":
        return options.lr * 0.5 * (1 + math.cos(math.pi * min(t, span) / span))
    if options.schedule == "onecycle":
        # torch's OneCycleLR defaults: from lr/25 up to lr over 30%, then down to lr/25e4.
        up = max(1, int(0.3 * span))
        low, final = options.lr / 25, options.lr / 25e4
        if t < up:
            return low + (options.lr - low) * 0.5 * (1 - math.cos(math.pi * t / up))
        frac = min(1.0, (t - up) / max(1, span - up))
        return final + (options.lr - final) * 0.5 * (1 + math.cos(math.pi * frac))
    return options.lr


def make_optimizer(model: nn.Module, options: TrainOptions,
                   head: str | None = None) -> torch.optim.Optimizer:
    """SGD or Adam(W) over the trainable parameters. With --lr-backbone, two groups: the
    classifier (module `head`) at --lr, the rest at --lr-backbone (`lr_scale` keeps the
    ratio through the schedule)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise UsageError("the network has no trainable parameters (all frozen?)")
    groups: list[dict[str, Any]] = [{"params": params, "lr_scale": 1.0}]
    if options.lr_backbone is not None and head is not None:
        own = {id(p) for p in model.get_submodule(head).parameters() if p.requires_grad}
        groups = [{"params": [p for p in params if id(p) in own], "lr_scale": 1.0},
                  {"params": [p for p in params if id(p) not in own],
                   "lr_scale": options.lr_backbone / options.lr}]
        groups = [g for g in groups if g["params"]]
    if options.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=options.lr, momentum=options.momentum,
                               nesterov=options.nesterov and options.momentum > 0,
                               weight_decay=options.weight_decay)
    kind = torch.optim.Adam if options.optimizer == "adam" else torch.optim.AdamW
    return kind(groups, lr=options.lr, weight_decay=options.weight_decay)


# -- the run -----------------------------------------------------------------------------

@dataclass
class RunState:
    epoch: int = 0  # epochs completed
    step: int = 0  # steps done in the current epoch
    partial: dict[str, float] = field(default_factory=lambda: {"loss": 0.0, "correct": 0.0,
                                                                 "seen": 0.0})
    history: list[dict[str, Any]] = field(default_factory=list)
    best_acc: float | None = None
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
        self.state = RunState()
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
        from ..spec.load import snapshot

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
            partial={k: float(v) for k, v in state["partial"].items()},
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
                train_loss, train_acc = self._partial_metrics()
                val_loss, val_acc = self.evaluate(self.data.val) if self.data.val else (None,
                                                                                     None)
                trained = (self.steps - first_step) * options.batch_size * self.dist.world
                record = {"epoch": state.epoch + 1, "train_loss": train_loss,
                          "train_acc": train_acc, "val_loss": val_loss, "val_acc": val_acc,
                          "lr": lr_at((state.epoch + 1) * self.steps - 1, self.steps, options),
                          "seconds": round(time.perf_counter() - started, 3),
                          "train_seconds": round(train_seconds, 3),
                          # training images per second: the training phase only
                          "images_per_s": round(trained / train_seconds, 1)}
                state.history.append(record)
                state.epoch, state.step = state.epoch + 1, 0
                state.partial = {"loss": 0.0, "correct": 0.0, "seen": 0.0}
                improved = self._track_best(val_acc if val_acc is not None else train_acc)
                self.save("last.pt")
                if improved:
                    self.save("best.pt")
                self.write_metrics()
                self.reporter.epoch_end(record, options.epochs, improved)
                if stop.requested and state.epoch < options.epochs:  # Ctrl-C in validation
                    raise Interrupted(f"interrupted after epoch {state.epoch} of "
                                      f"{options.epochs}; resume with: {self.resume_hint}")
                if options.early_stop and state.bad_epochs >= options.early_stop:
                    self.reporter.say(f"early stop: no better accuracy for "
                                       f"{options.early_stop} epochs")
                    break
        return state

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
            with compat.autocast(self.device, self.amp_dtype):
                logits = self.runner(x)
                loss = F.cross_entropy(logits.float(), y,
                                       label_smoothing=options.label_smoothing)
            loss_value = loss.item()
            if not math.isfinite(loss_value):
                last = self.out / "last.pt"
                kept = f" (last good checkpoint: {last})" if last.exists() else ""
                raise RunError(f"the loss became {loss_value} at epoch {state.epoch + 1}, "
                               f"step {step + 1}; try a lower --lr or --clip-grad{kept}")
            self.optimizer.zero_grad(set_to_none=True)
            self._backward_and_step(loss)
            correct = (logits.argmax(1) == y).sum().item()
            p = state.partial
            p["loss"] += loss_value * len(y)
            p["correct"] += correct
            p["seen"] += len(y)
            state.step = step + 1
            self.reporter.step(step + 1, loss_value, correct / len(y), len(y) * self.dist.world)
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

    def _partial_metrics(self) -> tuple[float, float]:
        p = self.state.partial
        loss, correct, seen = self.dist.reduce([p["loss"], p["correct"], p["seen"]],
                                               self.device)
        return round(loss / max(seen, 1), 6), round(correct / max(seen, 1), 6)

    @torch.inference_mode()
    def evaluate(self, split: Split) -> tuple[float, float]:
        self.runner.eval()
        loss_sum, correct, seen = evaluate_split(self.model, split, self.data, self.device,
                                                 self.options.batch_size * 2,
                                                 self.channels_last, self.amp_dtype, self.dist)
        self.runner.train()
        return round(loss_sum / max(seen, 1), 6), round(correct / max(seen, 1), 6)

    def write_metrics(self) -> None:
        if not self.dist.main:
            return
        lines = "".join(json.dumps(r) + "\n" for r in self.state.history)
        _write_text(self.out / "metrics.jsonl", lines)
        keys = list(self.state.history[0]) if self.state.history else []
        rows = [",".join(keys)] + [",".join("" if r[k] is None else str(r[k]) for k in keys)
                                   for r in self.state.history]
        _write_text(self.out / "metrics.csv", "\n".join(rows) + "\n")


def evaluate_split(model: nn.Module, split: Split, data: Data, device: torch.device,
                   batch_size: int, channels_last: bool = False,
                   amp_dtype: torch.dtype | None = None, dist: Dist | None = None,
                   confusion: torch.Tensor | None = None) -> tuple[float, float, float]:
    """Summed loss, correct count and count over a split (this rank's shard under DDP)."""
    dist = dist or Dist()
    indices = torch.arange(dist.rank, len(split), dist.world)
    loss_sum = correct = 0.0
    steps = -(-len(indices) // batch_size)
    for images, y in split.batches(indices, batch_size, 0, steps, device):
        x = prepare(images, data.mean, data.std, channels_last=channels_last)
        with compat.autocast(device, amp_dtype):
            logits = model(x).float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        predicted = logits.argmax(1)
        correct += (predicted == y).sum().item()
        if confusion is not None:
            confusion.index_put_((y.cpu(), predicted.cpu()), torch.ones(len(y), dtype=torch.long),
                                 accumulate=True)
    loss_sum, correct, seen = dist.reduce([loss_sum, correct, float(len(indices))], device)
    return loss_sum, correct, seen


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
