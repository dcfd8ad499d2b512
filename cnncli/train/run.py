"""Glue between the commands and the trainer: options, data, run folder, reports.

`run_training` is training's one entry point: `cnncli train` and `cnncli.train` call it and
get a `TrainResult` back."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..analysis.analyze import analyze_network
from ..errors import UsageError
from ..files import TORN, write_atomically
from ..model import checkpoint
from ..model.build import build_from_analysis
from ..model.pretrained import load_pretrained
from ..spec.freeze import freeze
from ..spec.ir import Network
from ..spec.load import load
from ..spec.recipe import OPTIONS, Recipe, TrainOptions
from ..spec.snapshot import restore, snapshot
from ..spec.zoo import zoo_dir
from . import datasets
from .batches import Data
from .data import check_name, default_data, follow_classes, load_data, note, shown
from .devices import Dist, init_dist, pick_device
from .infer import preprocessing
from .loop import Trainer
from .plots import plot_run
from .progress import Reporter, plural, recipe_line, score_name
from .recipe import resolve


@dataclass
class TrainResult:
    """What a run left: its folder, its best accuracy (mIoU for segmentation; validation
    when it had a validation set, else training) and epoch, and one record per epoch (as
    metrics.csv's rows)."""

    folder: Path
    best_acc: float | None  # None when no epoch ran
    best_epoch: int
    epochs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def best(self) -> Path:
        """The checkpoint of the best epoch."""
        return self.folder / "best.pt"

    @property
    def last(self) -> Path:
        """The checkpoint to resume from."""
        return self.folder / "last.pt"


# -- the run folder ----------------------------------------------------------------------

class RunFolder:
    """The run's folder, held by a lock file so two runs never interleave in it."""

    def __init__(self, path: Path, resuming: bool, force: bool, main: bool):
        self.path, self.main, self.lock = path, main, path / ".lock"
        if not main:
            return
        if path.exists() and not path.is_dir():
            raise UsageError(f"--out {path}: is a file, not a folder")
        if (path / "last.pt").exists() and not resuming and not force:
            raise UsageError(f"{path} already holds a run; continue it with --resume {path} "
                             "(and --epochs N to train longer), start over with --force, or "
                             "pick --out")
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / ".write-test"
            probe.write_bytes(b"x" * 4096)
            probe.unlink()
        except OSError as exc:
            raise UsageError(f"cannot write to {path}: {exc.strerror or exc}") from None
        self._take_lock()

    def _take_lock(self) -> None:
        for _ in range(2):
            try:
                fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = _lock_owner(self.lock)
                if owner is not None and _alive(owner):
                    raise UsageError(f"another run (pid {owner}) is writing to {self.path}; "
                                     "wait for it or pick another --out") from None
                self.lock.unlink(missing_ok=True)  # a stale lock from a dead run
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(str(os.getpid()))
            for torn in self.path.glob(TORN):  # left by a run that was killed mid-write
                torn.unlink(missing_ok=True)
            return
        raise UsageError(f"cannot take the lock {self.lock}")

    def release(self) -> None:
        if self.main and _lock_owner(self.lock) == os.getpid():
            self.lock.unlink(missing_ok=True)


def _lock_owner(lock: Path) -> int | None:
    try:
        return int(lock.read_text().strip() or "0") or None
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- train -------------------------------------------------------------------------------

def run_training(spec: str | Network, overrides: dict[str, Any],
                 input_shape: str | tuple[int, ...] | None,
                 flags: dict[str, Any], resume: str | None, force: bool,
                 report: bool = True) -> TrainResult:
    """Train SPEC with `flags` (TrainOptions' fields, None where not given) over the spec's
    recipe, or continue the run `resume`; `report`: print the run's progress on stdout."""
    check_name(flags.get("data"))  # before any file is read or folder made
    if resume and Path(resume).is_dir():  # a run folder continues from its last.pt
        resume = str(Path(resume) / "last.pt")
    state = checkpoint.load(resume) if resume else None
    network = load(spec, overrides, input_shape)
    if state is not None:
        # A run continues with the spec it started with: the one inside the checkpoint.
        if overrides or input_shape:
            raise UsageError("--set and --input do not apply with --resume: the run goes on "
                             "with the spec (and values) it started with")
        started = restore(state["spec"])
        if started.name != network.name:
            raise UsageError(f"{resume} is a run of {started.name}, not {network.name}")
        _check_unchanged(network, state, resume)
        network = started
        saved = dict(state.get("options") or {})
        saved.pop("augment", None)
        saved.pop("out", None)  # the run folder is where the checkpoint is now, unless --out
        given = {k: v for k, v in flags.items() if v is not None and v != ()}
        merged = {**{k: v for k, v in saved.items() if k in OPTIONS},
                  **given}
        merged.setdefault("augment", tuple(state["options"].get("augment") or ()))
        options = resolve(None, merged)
    else:
        options = resolve(network.train, flags)
        default_data(network, options)
        check_name(options.data, "--data" if flags.get("data") else "the spec's train: data")
        network = follow_classes(network, options, overrides,
                                 lambda values: load(spec, values, input_shape))
    if options.freeze:
        freeze(network, options.freeze)
    # the spec's default MNIST may become the shipped sample; data named by the user may not
    fallback = state is None and flags.get("data") is None and flags.get("data_dir") is None
    dist = init_dist(options.device)
    recipe = None if state is not None else network.train
    try:
        typed = {k for k, v in flags.items() if v is not None and v != ()}
        return _train(network, options, dist, state, resume, force, fallback, recipe, typed,
                      report)
    finally:
        if dist.world > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def _check_unchanged(network: Network, state: dict[str, Any], resume: str) -> None:
    """Refuse to resume when SPEC no longer describes the checkpoint's network (edited since
    the run started): built on the meta device, the comparison costs no memory."""
    own = build_from_analysis(analyze_network(network), device="meta").state_dict()
    problem = checkpoint.mismatch(own, state["model"])
    if problem:
        raise UsageError(f"{network.source} changed since {resume} was written ({problem}); "
                         "resume with the spec as it was, or start a new run")


def _train(network: Network, options: TrainOptions, dist: Dist, state: dict[str, Any] | None,
           resume: str | None, force: bool, fallback: bool, recipe: Recipe | None,
           typed: set[str], report: bool = True) -> TrainResult:
    device = pick_device(options.device, dist)
    if options.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    out = Path(options.out or (Path(resume).parent if resume else Path("runs") / network.name))
    options.out = str(out)
    if options.data_dir:  # recorded in checkpoints: eval finds the data from anywhere
        options.data_dir = str(Path(options.data_dir).expanduser().resolve())
    folder = RunFolder(out, resuming=state is not None, force=force, main=dist.main)
    try:
        torch.manual_seed(options.seed)
        data = load_data(network, options, device,
                         state["data"] if state else _weights_stats(network, options), fallback)
        if not datasets.KINDS[str(options.data)].folder:  # load_data checked the name
            options.data = data.name  # the run and its checkpoints record what it trained on
        if state is None:
            fit_batch(options, len(data.train) // dist.world, recipe, typed, dist.world)
        model = build_from_analysis(analyze_network(network))
        pretrained = _load_weights(model, network, options, dist) \
            if options.weights and state is None else None
        if dist.main:
            _check_free_space(out, model, options)
        speak = dist.main and report  # the library trains silently unless asked
        reporter = Reporter(enabled=speak)
        trainer = Trainer(network, model, data, options, out, device, dist, reporter)
        trainer.resume_hint = f"cnncli train {_spec_word(network)} --resume {out}"
        if state is not None:
            trainer.resume(state, Path(resume or ""))
            if _finished(reporter, trainer, out):
                return _result(out, trainer)
        elif dist.main:
            _write_run_files(out, network, options, data, pretrained)
        if speak:
            _header(reporter, network, options, data, device, dist, pretrained, model)
            if state is not None:
                s = trainer.state
                step = f", step {s.step + 1} of {trainer.steps}" if s.step else ""
                reporter.say(f"resuming {out} at epoch {s.epoch + 1} of {options.epochs}{step}")
            _preload_plotting()
        started = time.perf_counter()
        final = trainer.fit()
        reporter.final(final, out, time.perf_counter() - started)
        if dist.main and _plot_if_possible(out) and speak:
            print(f"curves: {out / 'curves.png'}", flush=True)
        if speak:
            word = _spec_word(network)
            print(f"next: cnncli eval {word}\n      cnncli predict {word} IMAGE", flush=True)
        if dist.world > 1:  # leave together: a rank tearing gloo down early can abort
            torch.distributed.barrier()
        return _result(out, trainer)
    finally:
        folder.release()


def _result(out: Path, trainer: Trainer) -> TrainResult:
    s = trainer.state
    return TrainResult(out, s.best_acc, s.best_epoch, [dict(r) for r in s.history])


def _given(recipe: Recipe | None, name: str) -> bool:
    return recipe is not None and recipe.given(name)


def _spec_word(network: Network) -> str:
    """How to name this network on a command line: its zoo name, else its spec file."""
    source = Path(network.source)
    return network.name if source.parent.resolve() == zoo_dir().resolve() \
        else shown(source.resolve())


def fit_batch(options: TrainOptions, per_process: int, recipe: Recipe | None, typed: set[str],
              world: int = 1) -> None:
    """The batch size fitted to the data, and the learning rate to the batch size.

    A recipe's batch larger than the training set shrinks to it (with a note); a typed
    --batch-size that is too large is an error, as it is the user's explicit choice. When
    the batch differs from the one the spec's recipe was tuned at and --lr is not given,
    the learning rate follows it by the linear scaling rule (Goyal et al., 2017).
    """
    tuned = resolve(recipe, {})
    where = "per process" if world > 1 else ""
    if per_process < 1:
        raise UsageError(f"no training images for {world} processes; use fewer processes")
    if options.batch_size > per_process:
        if "batch_size" in typed:
            raise UsageError(f"--batch-size {options.batch_size} is larger than the "
                             f"{per_process:,} training images {where}".rstrip()
                             + f"; pass --batch-size {per_process} or less")
        whose = "the recipe's" if _given(recipe, "batch_size") else "the default"
        note(f"batch size {per_process}: {whose} {options.batch_size} is more than the "
             f"{per_process:,} training images {where}".rstrip())
        options.batch_size = per_process
    if (options.batch_size != tuned.batch_size and _given(recipe, "batch_size")
            and "lr" not in typed):
        options.lr = tuned.lr * options.batch_size / tuned.batch_size
        note(f"lr {options.lr:.3g} = the recipe's {tuned.lr:g} x {options.batch_size}/"
             f"{tuned.batch_size} (linear scaling rule; --lr sets it)")


def _finished(reporter: Reporter, trainer: Trainer, out: Path) -> bool:
    """Has the resumed run nothing left to do? Then say so, and how to train longer."""
    s, options = trainer.state, trainer.options
    stopped = bool(options.early_stop and s.bad_epochs >= options.early_stop)
    if s.epoch < options.epochs and not stopped:
        return False
    why = ("stopped early" if s.epoch < options.epochs
           else f"has finished its {plural(options.epochs, 'epoch')}")
    which = score_name(s.history[-1]).replace("train ", "") if s.history else "acc"
    reporter.say(f"{out} {why} (best {which} {s.best_acc:.4f} at epoch {s.best_epoch}): "
                 "nothing left to do")
    reporter.say(f"to train longer: {trainer.resume_hint} --epochs "
                 f"{max(options.epochs, s.epoch) + 10}")
    return True


def _header(reporter: Reporter, network: Network, options: TrainOptions, data: Data,
            device: torch.device, dist: Dist, pretrained: Any, model: torch.nn.Module) -> None:
    """What is trained on what, and the recipe values behind the numbers that follow."""
    procs = "" if dist.world == 1 else f" x {dist.world} processes"
    reporter.say(f"training {network.name} on {data.name} ({len(data.train):,} images, "
                 f"validation: {data.val_source}) on {device}{procs}")
    reporter.say(recipe_line(options))
    if pretrained is not None:
        reporter.say(f"weights: {pretrained.tensors} tensors from {pretrained.file}"
                     + (f"; {pretrained.note}" if pretrained.note else ""))
    if options.freeze:
        frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
        reporter.say(f"frozen: {frozen:,} parameters ({', '.join(options.freeze)})"
                     + (f"; backbone lr {options.lr_backbone:g}" if options.lr_backbone
                        else ""))


def _check_free_space(out: Path, model: torch.nn.Module, options: TrainOptions) -> None:
    """Refuse to start when the folder cannot hold the checkpoints: better now than at the
    end of the first epoch. A checkpoint holds the weights and the optimiser's per-weight
    state (momentum; Adam's two moments); last.pt, best.pt and one file being written."""
    tensors = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    slots = {"sgd": 1 if options.momentum else 0, "adam": 2, "adamw": 2}[options.optimizer]
    needed = 3 * tensors * (1 + slots) + (1 << 20)
    free = shutil.disk_usage(out).free
    if free < needed:
        raise UsageError(f"{out} has {free / 2**20:,.1f} MiB free but this run's checkpoints need "
                         f"about {needed / 2**20:,.1f} MiB; free some space or pick --out")


def _weights_stats(network: Network, options: TrainOptions) -> dict[str, Any] | None:
    """Pretrained weights expect their own input normalisation (ImageNet's mean and std for
    torchvision's), not statistics of the new data."""
    if not options.weights:
        return None
    tv = preprocessing(network)
    if len(tv.mean) != network.input[0]:
        return None  # ImageNet's are for 3-channel images: a grey network's data sets its own
    return {"mean": list(tv.mean), "std": list(tv.std)}


def _load_weights(model: torch.nn.Module, network: Network, options: TrainOptions,
                  dist: Dist) -> Any:
    """--weights into the fresh model; under torchrun the first process fetches the file
    while the others wait, then each reads it."""
    if dist.world > 1 and not dist.main:
        torch.distributed.barrier()
    loaded = load_pretrained(model, network, options.weights or "")
    if dist.world > 1 and dist.main:
        torch.distributed.barrier()
    return loaded


def _write_run_files(out: Path, network: Network, options: TrainOptions, data: Data,
                     pretrained: Any = None) -> None:
    run = {"name": network.name, "spec": snapshot(network), "options": options.to_dict(),
           "data": data.record(),
           "weights": pretrained.record() if pretrained is not None else None,
           "torch": torch.__version__, "command": sys.argv}
    write_atomically(out / "run.json", json.dumps(run, indent=2))
    write_atomically(out / "spec.yaml", network.files.get(network.source, ""))


def _preload_plotting() -> None:
    """Import matplotlib while the first epoch runs (torch's kernels release the GIL), so the
    curves at the end of the run cost drawing time only, not a third of a second of imports."""
    import threading

    def load() -> None:
        with contextlib.suppress(ImportError):
            import matplotlib.figure  # noqa: F401

    threading.Thread(target=load, daemon=True, name="cnncli-preload-plot").start()


def _plot_if_possible(out: Path) -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    plot_run(out, out / "curves.png")
    return True
