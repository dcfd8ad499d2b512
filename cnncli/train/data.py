"""The data a run trains on, matched to its network.

- Which dataset: the one named with --data, else the spec's recipe. When that default is MNIST
  and the full set is neither on disk nor downloadable, the run trains on the MNIST sample that
  ships with cnncli, and says so; --data mnist (or --data-dir) given explicitly stays strict.
- Classes follow the data: a spec with a `classes` parameter gets the dataset's count.
- Sizes: images of another size than the spec's input need --fit, or --input when the
  network takes any size (it ends in global pooling).
- The task follows the network's output (task.py): a segmentation network trains on masks
  (shapes, generated at its input size, when no data is named; or a segfolder), a
  classifier on labelled images.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from ..analysis.analyze import analyze_network
from ..errors import CnncliError, UsageError, did_you_mean, tell
from ..layers import shape_text
from ..spec.ir import Network
from ..spec.load import load_file
from ..spec.recipe import TrainOptions
from . import datasets
from .batches import Data, Split
from .datasets.fit import image_shape
from .task import Head, Task, head_of

DATASETS = tuple(datasets.KINDS)


def note(message: str) -> None:
    """One line on stderr, from the first process only (torchrun starts several)."""
    if os.environ.get("RANK", "0") == "0":
        tell("note", message)


def check_name(name: str | None, where: str = "--data") -> None:
    """A dataset name cnncli knows, or one sentence with the names and the closest one."""
    if name is not None and name not in DATASETS:
        raise UsageError(f"{where} {name!r} is not one of {', '.join(DATASETS)}"
                         f"{did_you_mean(name, DATASETS)}")


def shown(path: Path | str) -> str:
    """A path as a person reads it: the shorter of relative (under the current folder) and
    ~/... (under the home folder), else as it is."""
    text, home, here = str(path), str(Path.home()), os.getcwd()
    forms = [text]
    if os.path.isabs(text) and text.startswith(here.rstrip("/") + "/"):
        forms.append(os.path.relpath(text, here))
    if home not in ("", "/") and text.startswith(home + "/"):
        forms.append("~" + text[len(home):])
    return min(forms, key=len)


def output_classes(network: Network) -> int:
    return head_of(network).classes


def default_data(network: Network, options: TrainOptions) -> None:
    """A segmentation network with no data named (by --data or its recipe) trains on the
    shapes dataset, generated at its input size; said in a note. Data named for the other
    task is refused before anything else is said."""
    head = head_of(network)  # first: a network that is neither is refused here
    if options.data in datasets.KINDS:
        check_task(network, head, options.data)
    if options.data is not None or not head.segmentation:
        return
    options.data = datasets.SEGMENTATION_DEFAULT
    c, h, w = network.input
    note(f"no --data: training on shapes, {len(datasets.SHAPE_CLASSES)} classes "
         f"({', '.join(datasets.SHAPE_CLASSES)}) drawn at {c}x{h}x{w}, "
         f"{datasets.SHAPES_SIZES['train']:,} + {datasets.SHAPES_SIZES['test']:,} images "
         f"from seed {options.seed}")


def check_task(network: Network, head: Head, name: str) -> None:
    """Masks for a segmentation network, labelled images for a classifier."""
    kind = datasets.KINDS[name]
    if kind.task is head.task:
        return
    if head.segmentation:
        raise UsageError(f"{network.name} is a segmentation network (it outputs a class score "
                         f"per pixel) but {name} labels whole images; use --data shapes, or "
                         "--data segfolder --data-dir DIR for images with masks")
    raise UsageError(f"{network.name} is a classifier (it outputs one score per class) but "
                     f"{name} holds masks for segmentation; use a classification dataset")


# -- classes follow the data --------------------------------------------------------------

def follow_classes(network: Network, options: TrainOptions, overrides: Mapping[str, Any],
                   reload: Callable[[dict[str, Any]], Network]) -> Network:
    """The network with `classes` set to the dataset's count, when the spec has that
    parameter and the user did not set it; an explicit --set classes=N that disagrees with
    the data is an error."""
    count, what = data_classes(options)
    if count is None or "classes" not in network.params:
        return network
    have = output_classes(network)
    if have == count:
        return network
    if "classes" in overrides:
        raise UsageError(f"--set classes={overrides['classes']} but {what} has {count} "
                         f"classes; drop --set classes (cnncli takes the count from the data)")
    note(f"classes={count} from {what}")
    return reload({**overrides, "classes": count})


def data_classes(options: TrainOptions) -> tuple[int | None, str]:
    """(number of classes, how to name the data) without reading any images."""
    kind = datasets.kind_of(options.data)
    if kind is not None and kind.folder and kind.task is Task.SEGMENTATION:
        return None, ""  # known when the masks are read
    if kind is not None and kind.folder and options.data_dir:
        train_root, _ = imagefolder_roots(Path(options.data_dir))
        if not train_root.is_dir():
            return None, ""
        count = sum(1 for p in train_root.iterdir() if p.is_dir() and not p.name.startswith("."))
        return count or None, f"the image folder ({train_root}: {count} class folders)"
    if options.data in datasets.NAMES:
        return datasets.class_count(options.data), options.data
    return None, ""


def imagefolder_roots(root: Path) -> tuple[Path, Path | None]:
    """(training folder, held-out folder): ROOT/train and ROOT/val (or test) when there is a
    held-out folder, else ROOT itself and none."""
    held = next((root / n for n in ("val", "test") if (root / n).is_dir()), None)
    train_root = root / "train" if held is not None and (root / "train").is_dir() else root
    return train_root, held


# -- loading ------------------------------------------------------------------------------

def load_data(network: Network, options: TrainOptions, device: torch.device,
              record: dict[str, Any] | None = None, fallback: bool = False) -> Data:
    """The dataset, fitted to the spec's input, as uint8 tensors on the device.

    fallback: MNIST may be replaced by the shipped sample when it cannot be had.
    """
    name = options.data
    if name is None:
        raise UsageError(f"which data? pass --data ({', '.join(DATASETS)}); the spec "
                         f"{network.name} declares none in its train: section")
    check_name(name)
    head = head_of(network)
    check_task(network, head, name)
    classes = head.classes
    kind = datasets.KINDS[name]
    if head.segmentation:
        return _load_masks(network, options, device, classes, record)
    if kind.folder:
        return _imagefolder(network, options, device, classes, record)
    if kind.generated:
        full = datasets.synthetic(2048, tuple(network.input), classes, options.seed)
        train, test = full.split(0.2, options.seed)
    else:
        train, test = _load_named(name, options.data_dir, fallback)
        name = train.name
    if len(train.classes) != classes:
        raise UsageError(f"{network.name} has {classes} outputs but {name} has "
                         f"{len(train.classes)} classes; give the spec a `classes` parameter "
                         "for its last layer's width, and cnncli sets it from the data")
    _check_size(network, tuple(train.images.shape[1:]), options.fit)
    images = datasets.fit_images(train.images, tuple(network.input), options.fit)
    val_source = "test split"
    if options.val_split:
        train, test = train.split(options.val_split, options.seed)
        images = datasets.fit_images(train.images, tuple(network.input), options.fit)
        val_source = f"{options.val_split:.0%} of train"
    if record is not None:  # resuming or evaluating: the checkpoint's normalisation
        mean, std = record["mean"], record["std"]
    else:
        mean, std = (list(map(float, v)) for v in datasets.normalize_stats(images))
    val = None
    if test is not None and len(test):
        val = Split(datasets.fit_images(test.images, tuple(network.input), options.fit)
                    .to(device), test.labels.to(device))
    pin = device.type == "cuda"
    train_split = Split(images.pin_memory().to(device, non_blocking=True) if pin
                        else images.to(device), train.labels.to(device))
    return Data(name=name, train=train_split, val=val, classes=list(train.classes),
                mean=mean, std=std, fit=options.fit, val_source=val_source if val else "none")


def _load_named(name: str, data_dir: str | None,
                fallback: bool) -> tuple[datasets.ImageSet, datasets.ImageSet]:
    """Both splits of a named dataset; its stand-in (the MNIST sample for MNIST) when it is
    missing and `fallback` allows."""
    stand_in = datasets.KINDS[name].stand_in if fallback else None
    try:
        return datasets.load(name, "train", data_dir), datasets.load(name, "test", data_dir)
    except datasets.DatasetUnavailable as exc:
        if stand_in is None:
            raise
        note(f"MNIST cannot be downloaded ({exc.reason}) to {shown(exc.folder)}")
        note(f"training on {stand_in}: 10,000 MNIST digits shipped with cnncli")
        return datasets.load(stand_in, "train"), datasets.load(stand_in, "test")


def _check_size(network: Network, shape: tuple[int, ...], fit: str | None) -> None:
    """Images of another size than the spec's input need --fit; when the network would take
    the data's size as it is (global pooling before the classifier), say --input too."""
    want = tuple(network.input)
    if fit is not None or shape == want or len(want) != 3:
        return
    have_text, want_text = shape_text(shape), shape_text(want)
    message = (f"the images are {have_text} but the spec takes {want_text}; pass --fit pad, "
               "resize or crop to adapt them")
    if _takes_size(network, shape):
        message += (f", or --input {have_text} to train at the data's size ({network.name} "
                    "ends in global pooling, so its classifier does not change)")
    raise UsageError(message)


def _takes_size(network: Network, shape: tuple[int, ...]) -> bool:
    """Does the network, resolved again for this input, give the same output and params?"""
    try:
        other = analyze_network(load_file(network.source, network.variant,
                                          network.overrides, shape))
    except CnncliError:
        return False
    mine = analyze_network(network)
    return other.output == mine.output and other.totals()["params"] == mine.totals()["params"]


def _imagefolder(network: Network, options: TrainOptions, device: torch.device, classes: int,
                 record: dict[str, Any] | None) -> Data:
    """Image folders stream from disk: DataLoader workers decode each batch at the spec's
    input size. DATA_DIR/train and DATA_DIR/val (or test) are used when present."""
    from torch.utils.data import Subset

    if not options.data_dir:
        raise UsageError("--data imagefolder needs --data-dir: a folder of class subfolders")
    root = Path(options.data_dir)
    c, h, w = network.input if len(network.input) == 3 else (0, 0, 0)
    if not c:
        raise UsageError(f"{network.name} takes a flat input; image folders need CxHxW")
    train_root, held = imagefolder_roots(root)
    train_set = datasets.ImageFolderDataset(str(train_root), (h, w), c)
    if len(train_set.classes) != classes:
        raise UsageError(f"{network.name} has {classes} outputs but {train_root} has "
                         f"{len(train_set.classes)} classes; give the spec a `classes` "
                         "parameter for its last layer's width, and cnncli sets it from the "
                         "data")
    labels = torch.tensor([label for _, label in train_set.samples], dtype=torch.int64)
    val: Split | None = None
    val_source = "none"
    if options.val_split:
        generator = torch.Generator().manual_seed(options.seed)
        order = torch.randperm(len(labels), generator=generator)
        cut = int(round(len(labels) * options.val_split))
        if not 0 < cut < len(labels):
            raise UsageError(f"--val-split {options.val_split} leaves no images on one side "
                             f"of {len(labels)}")
        held_idx, kept_idx = order[:cut], order[cut:]
        val = Split(None, labels[held_idx], Subset(train_set, held_idx.tolist()),
                    options.workers)
        train = Split(None, labels[kept_idx], Subset(train_set, kept_idx.tolist()),
                      options.workers)
        val_source = f"{options.val_split:.0%} of train"
    else:
        train = Split(None, labels, train_set, options.workers)
        if held is not None:
            val_set = datasets.ImageFolderDataset(str(held), (h, w), c)
            val = Split(None, torch.tensor([lab for _, lab in val_set.samples]), val_set,
                        options.workers)
            val_source = f"{held.name} folder"
    _say_fitting(train_set, val, root, (h, w))
    if record is not None:
        mean, std = record["mean"], record["std"]
    else:  # statistics from up to 1,000 training images, decoded once
        sample = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:1000]
        images = torch.cat([x for x, _ in train.batches(sample, 250, 0,
                                                        -(-len(sample) // 250), device)])
        mean, std = datasets.normalize_stats(images.cpu())
    return Data(name="imagefolder", train=train, val=val, classes=list(train_set.classes),
                mean=list(mean), std=list(std), fit=None, val_source=val_source)


def _say_fitting(train_set: Any, val: Split | None, root: Path, size: tuple[int, int]) -> None:
    """Once each, with a count: the files skipped as not images, and the images resized to
    the spec's input as they are read (a silent resize hides a wrong --input)."""
    sets = [train_set] + ([val.dataset] if val is not None and val.dataset is not train_set
                          and hasattr(val.dataset, "skipped") else [])
    skipped = [p for s in sets for p in s.skipped]
    if skipped:
        files = "1 file" if len(skipped) == 1 else f"{len(skipped):,} files"
        note(f"skipped {files} in {shown(root)} that {'is' if len(skipped) == 1 else 'are'} "
             f"not .png, .jpg or .jpeg (e.g. {skipped[0].name})")
    samples = [pair for s in sets for pair in s.samples]
    differ, checked = datasets.other_sizes(samples, size)
    if differ:
        of = f"{checked:,}" if checked == len(samples) else \
            f"{checked:,} checked of {len(samples):,}"
        note(f"{differ:,} of {of} images are resized to {size[0]}x{size[1]}, the spec's input, "
             "as they are read")


def _load_masks(network: Network, options: TrainOptions, device: torch.device, classes: int,
                record: dict[str, Any] | None) -> Data:
    """Images and masks in memory at the network's input size: the shapes dataset drawn at
    that size, or a segfolder's files resized to it (DATA_DIR/train and DATA_DIR/val, or
    test, when present)."""
    if options.augment:
        raise UsageError(f"--augment {','.join(options.augment)} would move the images but not "
                         f"their masks; train {network.name} without augmentation")
    c, h, w = image_shape(tuple(network.input))
    test: datasets.ImageSet | None = None
    if options.data == datasets.SEGMENTATION_DEFAULT:
        train, test = (datasets.shapes(datasets.SHAPES_SIZES[split], (c, h, w), options.seed,
                                       split) for split in datasets.SPLITS)
        val_source = "test split"
    else:
        if not options.data_dir:
            raise UsageError("--data segfolder needs --data-dir: a folder with images/ and "
                             "masks/ subfolders")
        train_root, held = imagefolder_roots(Path(options.data_dir))
        train, resized = datasets.load_segfolder(train_root, classes, (h, w), c)
        count, val_source = len(train), "none"
        if held is not None and not options.val_split:
            test, more = datasets.load_segfolder(held, classes, (h, w), c)
            count, resized, val_source = count + len(test), resized + more, f"{held.name} folder"
        if resized:
            note(f"{resized:,} of {count:,} images and their masks are resized to {h}x{w}, "
                 "the spec's input, as they are read")
    if options.val_split:
        train, test = train.split(options.val_split, options.seed)
        val_source = f"{options.val_split:.0%} of train"
    mean, std = (record["mean"], record["std"]) if record is not None else \
        datasets.normalize_stats(train.images)
    val = Split(test.images.to(device), test.labels.to(device)) \
        if test is not None and len(test) else None
    return Data(name=str(options.data), train=Split(train.images.to(device),
                                                    train.labels.to(device)),
                val=val, classes=list(train.classes), mean=list(mean), std=list(std), fit=None,
                val_source=val_source if val is not None else "none", task=Task.SEGMENTATION)
