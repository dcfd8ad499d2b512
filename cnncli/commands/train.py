"""`cnncli train`, `eval`, `predict` and `plot`: the commands that train and use a model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..analysis.report import TABLE_OR_JSON
from ..spec.recipe import AUGMENTS, DEVICES, FITS, NO_AUGMENT, OPTIMIZERS, SCHEDULES
from ..train import SPLITS
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


def _recipe(name: str) -> str:
    """Where an option's default comes from: the spec's recipe, else cnncli's own value."""
    from ..spec.recipe import TrainOptions

    value = getattr(TrainOptions(), name)
    shown = {True: "on", False: "off", None: "none"}.get(value, value) \
        if isinstance(value, (bool, type(None))) else f"{value:g}" \
        if isinstance(value, float) else value
    return f"(default: the spec's train: {name}, else {shown})"


def _datasets() -> str:
    from ..train.data import DATASETS

    return ", ".join(DATASETS)


@click.command(epilog="Defaults come from the spec's train: section (see `cnncli spec NAME`; "
               "lenet5's: 10 epochs, batch 256, sgd lr 0.15 momentum 0.9, onecycle, label "
               "smoothing 0.1), then cnncli's own values given above. A --batch-size other "
               "than the recipe's scales its lr by batch/recipe batch (linear scaling rule), "
               "unless --lr is given.")
@click.argument("spec", shell_complete=complete_spec)
@override_options
@_flag("--data", help=f"One of {_datasets()} (default: the spec's train: data; "
       "a default mnist that cannot be downloaded falls back to the shipped sample; a "
       "segmentation network trains on shapes, drawn at its input size).")
@_flag("--data-dir", type=click.Path(), help="Folder with the dataset's files "
       "(default: the cache, $CNNCLI_DATA or ~/.cache/cnncli/datasets).")
@_flag("--fit", type=click.Choice(FITS),
       help="How to fit images of another size to the spec's input " + _recipe("fit") + ".")
@_flag("--epochs", type=int, help="Passes over the training set " + _recipe("epochs") + ".")
@_flag("--batch-size", type=int, help="Images per step " + _recipe("batch_size")
       + "; larger than the training set is an error.")
@_flag("--optimizer", type=click.Choice(OPTIMIZERS), help=_recipe("optimizer")
       .strip("()").capitalize() + ".")
@_flag("--lr", type=float, help="Learning rate, the peak with a schedule " + _recipe("lr")
       [:-1] + ", scaled with --batch-size).")
@_flag("--momentum", type=float, help="SGD momentum " + _recipe("momentum") + ".")
@_flag("--nesterov/--no-nesterov", help="Nesterov momentum " + _recipe("nesterov") + ".")
@_flag("--weight-decay", type=float, help="L2 penalty " + _recipe("weight_decay") + ".")
@_flag("--schedule", type=click.Choice(SCHEDULES),
       help="Learning-rate schedule " + _recipe("schedule") + ".")
@_flag("--warmup", type=float, help="Epochs of linear learning-rate warm-up "
       + _recipe("warmup") + ".")
@_flag("--step-size", type=int, help="Epochs between decays, schedule step "
       + _recipe("step_size") + ".")
@_flag("--gamma", type=float, help="Decay factor, schedule step " + _recipe("gamma") + ".")
@_flag("--label-smoothing", type=float, help="Label smoothing of the training loss "
       + _recipe("label_smoothing") + ".")
@_flag("--clip-grad", type=float, help="Clip the gradient norm to this value "
       + _recipe("clip_grad") + ".")
@_flag("--early-stop", type=int, help="Stop after N epochs without a better val accuracy "
       + _recipe("early_stop") + ".")
@_flag("--val-split", type=float, help="Hold out this fraction of the training set "
       "(default: the spec's train: val_split, else none: the dataset's test split).")
@click.option("--augment", multiple=True, type=click.Choice([*AUGMENTS, NO_AUGMENT]),
              help="Batched augmentation on tensors (repeatable): crop (pad + random crop), "
                   "flip (horizontal) (default: the spec's train: augment, else none).")
@_flag("--weights", metavar="torchvision|PATH", help="Start from pretrained weights: "
       "torchvision (or imagenet) for a zoo network's published ImageNet weights, or a .pth "
       "state_dict / cnncli checkpoint. A classifier for another class count starts fresh "
       "(default: random initialisation).")
@click.option("--freeze", multiple=True, metavar="PATTERN",
              help="Keep these layers fixed (repeatable): a path glob such as 'layer1.*', a "
                   "block path, or backbone (all but the classifier) (default: none).")
@_flag("--lr-backbone", type=float, help="Learning rate of all but the classifier "
       "(fine-tuning; the classifier uses --lr) (default: --lr).")
@_flag("--seed", type=int, help="Random seed " + _recipe("seed") + ".")
@_flag("--deterministic/--no-deterministic", help="Deterministic kernels, slower "
       + _recipe("deterministic") + ".")
@_flag("--device", type=click.Choice(DEVICES),
       help="Where to train (default: auto: cuda, else mps, else cpu).")
@_flag("--amp/--no-amp", help="Mixed precision on CUDA, bf16 or fp16 with a scaler "
       + _recipe("amp") + ".")
@_flag("--channels-last/--no-channels-last", help="Channels-last memory (default: on for "
       "CUDA).")
@_flag("--compile/--no-compile", help="torch.compile the model (default: off).")
@_flag("--out", type=click.Path(), help="Run folder (default: runs/<spec name>).")
@click.option("--resume", type=click.Path(), help="Continue a run: its folder or its "
              "last.pt (default: start a new run).")
@click.option("--force", is_flag=True, help="Start over in a run folder that holds a run.")
def train(spec: str, overrides: tuple[str, ...], input_shape: str | None, resume: str | None,
          force: bool, augment: tuple[str, ...], freeze: tuple[str, ...], **flags: Any) -> None:
    """Train the network SPEC describes; checkpoints and metrics go to the run folder.

    Fine-tuning: cnncli train resnet18 --weights torchvision --data imagefolder
    --data-dir photos/ --freeze backbone (or --lr-backbone 0.001).
    """
    from ..train.loop import Interrupted
    from ..train.run import run_training

    flags["augment"], flags["freeze"] = augment, freeze
    try:
        run_training(spec, parse_sets(overrides), input_shape, flags, resume, force)
    except Interrupted as exc:  # not an error: said on a line of its own, exit status 130
        click.echo(str(exc), err=True)
        sys.exit(exc.exit_code)  # click hands an Exit back as a return value; this leaves


@click.command(name="eval")
@click.argument("checkpoint", metavar="CHECKPOINT|SPEC")
@weights_option
@click.option("--set", "overrides", metavar="NAME=VALUE", multiple=True,
              help="With --weights: override a spec parameter.")
@_flag("--data", help="Dataset (default: the checkpoint's).")
@_flag("--data-dir", type=click.Path(), help="Folder with the dataset's files.")
@click.option("--split", type=click.Choice(sorted(SPLITS)), default="test",
              show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=256, show_default=True)
@click.option("--format", "-f", "fmt", type=click.Choice(TABLE_OR_JSON), default="table",
              show_default=True)
def evaluate(checkpoint: str, data: str | None, data_dir: str | None, split: str,
             batch_size: int, fmt: str, weights: str | None, overrides: tuple[str, ...]) -> None:
    """Loss, accuracy, per-class accuracy and confusion matrix of a checkpoint.

    CHECKPOINT is a checkpoint file, a run folder (its best.pt) or a spec or zoo name (the
    newest run of that network under ./runs); or a spec with --weights (then --data names
    the data)."""
    from ..train.infer import run_eval

    result = run_eval(checkpoint, data, data_dir, split, batch_size, weights,
                      parse_sets(overrides))
    if fmt == "json":
        emit("json", json.dumps(result, indent=2))
        return
    if "miou" in result:
        emit("table", _segmentation_eval(result))
        return
    head = (f"{result['checkpoint']}: {result['dataset']} {result['split']}, "
            f"{result['count']:,} images\n\n accuracy {result['accuracy']:.4f}   "
            f"loss {result['loss']:.4f}\n")
    emit("table", [head, *_per_class_tables(result, ("Accuracy", "Images"),
                                            "per_class_accuracy", "per_class_count", "")])


def _segmentation_eval(result: dict[str, Any]) -> list[Any]:
    """A segmentation eval: pixel accuracy, mIoU and loss, IoU per class, the confusion
    matrix in pixels."""
    head = (f"{result['checkpoint']}: {result['dataset']} {result['split']}, "
            f"{result['count']:,} images, {result['pixels']:,} pixels\n\n pixel accuracy "
            f"{result['pixel_accuracy']:.4f}   mIoU {result['miou']:.4f}   "
            f"loss {result['loss']:.4f}\n")
    return [head, *_per_class_tables(result, ("IoU", "Pixels"), "per_class_iou",
                                     "per_class_pixels", " in pixels")]


def _per_class_tables(result: dict[str, Any], columns: tuple[str, str], score: str,
                      count: str, unit: str) -> list[Any]:
    """An eval's per-class table (a score and a count per class) and its confusion matrix."""
    from ..analysis.report import TextTable

    classes = result["classes"]
    per_class = [[name, f"{value:.4f}" if value is not None else "—", f"{n:,}"]
                 for name, value, n in zip(classes, result[score], result[count])]
    matrix = [[classes[i], *[str(v) for v in row]] for i, row in enumerate(result["confusion"])]
    return [TextTable("Per class", ("Class", *columns), per_class, 1),
            TextTable(f"Confusion matrix{unit} (rows: true class, columns: predicted)",
                      ["true \\ pred", *classes], matrix, 1)]


@click.command()
@click.argument("checkpoint", metavar="CHECKPOINT|SPEC")
@click.argument("files", nargs=-1, required=True)
@weights_option
@click.option("--set", "overrides", metavar="NAME=VALUE", multiple=True,
              help="With --weights: override a spec parameter.")
@click.option("--top", type=click.IntRange(1), default=3, show_default=True)
@_flag("--fit", type=click.Choice(FITS),
       help="How to fit an image of another size to the network's input, as train's --fit "
       "(default: as the training data was fitted, else resize).")
@click.option("--invert", is_flag=True, help="Invert the images' brightness first (a dark "
              "digit on white paper for a network trained on MNIST's white on black).")
@click.option("--format", "-f", "fmt", type=click.Choice(TABLE_OR_JSON), default="table",
              show_default=True)
@click.option("--force", is_flag=True, help="Segmentation: overwrite an existing IMAGE.mask.png "
              "(default: refuse).")
def predict(checkpoint: str, files: tuple[str, ...], top: int, fmt: str, weights: str | None,
            overrides: tuple[str, ...], fit: str | None, invert: bool, force: bool) -> None:
    """Top classes with probabilities for image files (PNG/JPEG) or .npy arrays; for a
    segmentation network, a colour mask PNG beside each image (cat.mask.png: class indices
    with VOC's palette) and each class's share of the pixels.

    CHECKPOINT is a checkpoint file, a run folder (its best.pt) or a spec or zoo name (the
    newest run of that network under ./runs); or a spec with --weights: `cnncli predict
    resnet50 cat.jpg --weights torchvision` names ImageNet's classes, preprocessed as
    torchvision does."""
    from ..train.infer import run_predict

    results = run_predict(checkpoint, list(files), top, weights, parse_sets(overrides), fit,
                          invert, force)
    if fmt == "json":
        emit("json", json.dumps(results, indent=2))
        return
    for item in results:
        if "mask" in item:
            shares = sorted(item["shares"], key=lambda s: -s["share"])
            click.echo(f"{item['file']}: wrote {item['mask']}; "
                       + ", ".join(f"{s['class']} {s['share']:.1%}" for s in shares))
            continue
        ranked = ", ".join(f"{p['class']} {p['probability']:.4f}" for p in item["top"])
        click.echo(f"{item['file']}: {ranked}")


@click.command()
@click.argument("run_dir", type=click.Path())
@click.option("--output", "-o", type=click.Path(), help="PNG to write (default: the run's "
              "own RUN_DIR/curves.png, which training draws too, redrawn).")
@click.option("--force", is_flag=True, help="Overwrite an existing -o file (default: refuse).")
def plot(run_dir: str, output: str | None, force: bool) -> None:
    """Loss and accuracy curves of a run, as a PNG (needs matplotlib).

    The run's own curves.png is redrawn from its metrics; a file named with -o is a file of
    yours and is not overwritten without --force.
    """
    from ..train.plots import plot_run

    target = check_new_file(Path(output), force) if output else Path(run_dir) / "curves.png"
    written = plot_run(Path(run_dir), target)
    click.echo(f"wrote {written}")
