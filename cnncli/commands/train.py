"""`cnncli train`, `eval`, `predict` and `plot`: the commands that train and use a model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .options import (
    check_new_file,
    complete_spec,
    emit,
    override_options,
    parse_sets,
    weights_option,
)


def _flag(*names: str, **kwargs: Any) -> Any:
    return click.option(*names, default=None, **kwargs)


@click.command()
@click.argument("spec", shell_complete=complete_spec)
@override_options
@_flag("--data", help="mnist, fashion-mnist, kmnist, cifar10, cifar100, imagefolder, "
       "synthetic (default: the spec's train: data).")
@_flag("--data-dir", type=click.Path(), help="Folder with the dataset's files "
       "(default: the cache, $CNNCLI_DATA or ~/.cache/cnncli/datasets).")
@_flag("--fit", type=click.Choice(["pad", "resize", "crop"]),
       help="How to fit images of another size to the spec's input.")
@_flag("--epochs", type=int)
@_flag("--batch-size", type=int)
@_flag("--optimizer", type=click.Choice(["sgd", "adam", "adamw"]))
@_flag("--lr", type=float, help="Learning rate (the peak, with a schedule).")
@_flag("--momentum", type=float)
@_flag("--nesterov/--no-nesterov")
@_flag("--weight-decay", type=float)
@_flag("--schedule", type=click.Choice(["none", "step", "cosine", "onecycle"]))
@_flag("--warmup", type=float, help="Epochs of linear learning-rate warm-up.")
@_flag("--step-size", type=int, help="Epochs between decays (schedule step).")
@_flag("--gamma", type=float, help="Decay factor (schedule step).")
@_flag("--label-smoothing", type=float)
@_flag("--clip-grad", type=float, help="Clip the gradient norm to this value.")
@_flag("--early-stop", type=int, help="Stop after N epochs without a better val accuracy.")
@_flag("--val-split", type=float, help="Hold out this fraction of the training set.")
@click.option("--augment", multiple=True, type=click.Choice(["crop", "flip", "none"]),
              help="Batched augmentation on tensors (repeatable): crop (pad + random crop), "
                   "flip (horizontal).")
@_flag("--weights", metavar="torchvision|PATH", help="Start from pretrained weights: "
       "torchvision (or imagenet) for a zoo network's published ImageNet weights, or a .pth "
       "state_dict / cnncli checkpoint. A classifier for another class count starts fresh.")
@click.option("--freeze", multiple=True, metavar="PATTERN",
              help="Keep these layers fixed (repeatable): a path glob such as 'layer1.*', a "
                   "block path, or backbone (all but the classifier).")
@_flag("--lr-backbone", type=float, help="Learning rate of all but the classifier "
       "(fine-tuning; the classifier uses --lr).")
@_flag("--seed", type=int)
@_flag("--deterministic/--no-deterministic", help="Deterministic kernels (slower).")
@_flag("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]))
@_flag("--amp/--no-amp", help="Mixed precision on CUDA (bf16, or fp16 with a scaler).")
@_flag("--channels-last/--no-channels-last", help="Default: on for CUDA.")
@_flag("--compile/--no-compile", help="torch.compile the model.")
@_flag("--out", type=click.Path(), help="Run folder (default: runs/<spec name>).")
@click.option("--resume", type=click.Path(), help="Continue from a checkpoint (last.pt).")
@click.option("--force", is_flag=True, help="Start over in a run folder that holds a run.")
def train(spec: str, overrides: tuple[str, ...], input_shape: str | None, resume: str | None,
          force: bool, augment: tuple[str, ...], freeze: tuple[str, ...], **flags: Any) -> None:
    """Train the network SPEC describes; checkpoints and metrics go to the run folder.

    Fine-tuning: cnncli train resnet18 --weights torchvision --data imagefolder
    --data-dir photos/ --freeze backbone (or --lr-backbone 0.001).
    """
    from ..train.run import run_training

    flags["augment"], flags["freeze"] = augment, freeze
    run_training(spec, parse_sets(overrides), input_shape, flags, resume, force)


@click.command(name="eval")
@click.argument("checkpoint", metavar="CHECKPOINT|SPEC")
@weights_option
@click.option("--set", "overrides", metavar="NAME=VALUE", multiple=True,
              help="With --weights: override a spec parameter.")
@_flag("--data", help="Dataset (default: the checkpoint's).")
@_flag("--data-dir", type=click.Path(), help="Folder with the dataset's files.")
@click.option("--split", type=click.Choice(["test", "train"]), default="test",
              show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=256, show_default=True)
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def evaluate(checkpoint: str, data: str | None, data_dir: str | None, split: str,
             batch_size: int, fmt: str, weights: str | None, overrides: tuple[str, ...]) -> None:
    """Loss, accuracy, per-class accuracy and confusion matrix of a checkpoint, or of a
    spec with --weights (then --data names the data)."""
    from ..train.infer import run_eval

    result = run_eval(checkpoint, data, data_dir, split, batch_size, weights,
                      parse_sets(overrides))
    if fmt == "json":
        emit("json", json.dumps(result, indent=2))
        return
    from ..analysis.report import TextTable

    classes = result["classes"]
    per_class = [[name, f"{acc:.4f}" if acc is not None else "—", f"{n:,}"]
                 for name, acc, n in zip(classes, result["per_class_accuracy"],
                                         result["per_class_count"])]
    matrix = [[classes[i], *[str(v) for v in row]] for i, row in enumerate(result["confusion"])]
    head = (f"{result['checkpoint']}: {result['dataset']} {result['split']}, "
            f"{result['count']:,} images\n\n accuracy {result['accuracy']:.4f}   "
            f"loss {result['loss']:.4f}\n")
    emit("table", [head,
                   TextTable("Per class", ("Class", "Accuracy", "Images"), per_class, 1),
                   TextTable("Confusion matrix (rows: true class, columns: predicted)",
                             ["true \\ pred", *classes], matrix, 1)])


@click.command()
@click.argument("checkpoint", metavar="CHECKPOINT|SPEC")
@click.argument("files", nargs=-1, required=True)
@weights_option
@click.option("--set", "overrides", metavar="NAME=VALUE", multiple=True,
              help="With --weights: override a spec parameter.")
@click.option("--top", type=click.IntRange(1), default=3, show_default=True)
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def predict(checkpoint: str, files: tuple[str, ...], top: int, fmt: str, weights: str | None,
            overrides: tuple[str, ...]) -> None:
    """Top classes with probabilities for image files (PNG/JPEG) or .npy arrays, from a
    checkpoint or a spec with --weights: `cnncli predict resnet50 cat.jpg --weights
    torchvision` names ImageNet's classes, preprocessed as torchvision does."""
    from ..train.infer import run_predict

    results = run_predict(checkpoint, list(files), top, weights, parse_sets(overrides))
    if fmt == "json":
        emit("json", json.dumps(results, indent=2))
        return
    for item in results:
        ranked = ", ".join(f"{p['class']} {p['probability']:.4f}" for p in item["top"])
        click.echo(f"{item['file']}: {ranked}")


@click.command()
@click.argument("run_dir", type=click.Path())
@click.option("--output", "-o", type=click.Path(), help="PNG to write "
              "(default: RUN_DIR/curves.png).")
@click.option("--force", is_flag=True, help="Overwrite the PNG if it exists.")
def plot(run_dir: str, output: str | None, force: bool) -> None:
    """Loss and accuracy curves of a run, as a PNG (needs matplotlib)."""
    from ..train.plots import plot_run

    target = check_new_file(Path(output) if output else Path(run_dir) / "curves.png", force)
    written = plot_run(Path(run_dir), target)
    click.echo(f"wrote {written}")
