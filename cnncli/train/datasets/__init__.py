"""Datasets for `cnncli train`, one module per family: the MNIST family (idx), CIFAR (cifar),
image folders (imagefolder), synthetic images, and for segmentation synthetic shapes with
masks (shapes) and folders of images and masks (segfolder), loaded as uint8 tensors into
one in-memory form (imageset); fetching their files (download) and fitting them to a
spec's input (fit).

Everything a user can get wrong (missing or corrupt files, no network, hostile pickles, images
that do not fit) raises UsageError with one sentence that names the file or folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ...errors import UsageError
from .. import SPLITS
from ..task import Task
from .cifar import CIFAR, load_cifar, read_pickle
from .download import SOURCES, DatasetUnavailable, Source, extract_tar, fetch
from .fit import fit_images, normalize_stats
from .idx import IDX_FILES, load_idx_set, read_idx_images, read_idx_labels
from .imagefolder import (
    IMAGE_SUFFIXES,
    ImageFolderDataset,
    decode_image,
    load_imagefolder,
    other_sizes,
    read_npy,
    stream_batches,
)
from .imageset import ImageSet
from .segfolder import load_segfolder
from .shapes import SHAPE_CLASSES, shapes
from .synthetic import synthetic

__all__ = [
    "CIFAR", "KINDS", "DatasetKind", "IDX_FILES",
    "IMAGE_SUFFIXES", "NAMES", "SAMPLE", "SAMPLE_DIR", "SOURCES",
    "SPLITS", "DatasetUnavailable", "ImageFolderDataset", "ImageSet", "Source", "class_count",
    "dataset_dir", "decode_image", "kind_of", "extract_tar", "fetch", "fit_images", "load",
    "load_imagefolder", "normalize_stats", "other_sizes", "read_idx_images", "read_idx_labels",
    "read_npy", "read_pickle", "stream_batches", "synthetic", "shapes", "load_segfolder",
    "SHAPE_CLASSES",
]

SAMPLE = "mnist-sample"
SAMPLE_DIR = Path(__file__).resolve().parent / "mnist_sample"  # shipped: 8,000 + 2,000 digits


@dataclass(frozen=True)
class DatasetKind:
    """What a dataset name stands for, so that callers ask it instead of comparing names."""

    name: str
    family: str  # "mnist" (28x28 grey digits and the like), "cifar", "synthetic" or "folder"
    downloadable: bool = False  # fetched into the cache when missing
    stand_in: str | None = None  # a shipped dataset used when this one cannot be had
    task: Task = Task.CLASSIFICATION  # what its labels are: a class per image, or per pixel

    @property
    def generated(self) -> bool:
        """Made up on the spot (random images): nothing to read, any input size."""
        return self.family == "synthetic"

    @property
    def folder(self) -> bool:
        """The user's own image files under --data-dir (an image folder streams them)."""
        return self.family == "folder"


#: every dataset --data takes, in the order messages list them
KINDS: dict[str, DatasetKind] = {k.name: k for k in (
    DatasetKind("mnist", "mnist", downloadable=True, stand_in=SAMPLE),
    DatasetKind("fashion-mnist", "mnist", downloadable=True),
    DatasetKind("kmnist", "mnist", downloadable=True),
    DatasetKind("cifar10", "cifar", downloadable=True),
    DatasetKind("cifar100", "cifar", downloadable=True),
    DatasetKind(SAMPLE, "mnist"),
    DatasetKind("synthetic", "synthetic"),
    DatasetKind("shapes", "synthetic", task=Task.SEGMENTATION),
    DatasetKind("imagefolder", "folder"),
    DatasetKind("segfolder", "folder", task=Task.SEGMENTATION),
)}
#: the dataset a segmentation network trains on when none is named
SEGMENTATION_DEFAULT = "shapes"
#: the shapes dataset's size per split
SHAPES_SIZES = {"train": 2000, "test": 500}
#: the datasets `load` reads by name (all but an image folder, which needs a path)
NAMES = tuple(name for name, kind in KINDS.items() if not kind.folder)


def kind_of(name: str | None) -> DatasetKind | None:
    """The kind of a dataset name (as given or recorded in a checkpoint), None if unknown."""
    return KINDS.get(name) if name else None


def load(name: str, split: str, data_dir: str | None = None, download: bool = True,
         cache_dir: str | None = None) -> ImageSet:
    """One split of a named dataset, read from `data_dir` or the cache (downloaded if missing)."""
    if name not in NAMES:
        raise UsageError(f"no dataset named {name!r}; known: {', '.join(NAMES)}")
    if split not in SPLITS:
        raise UsageError(f"dataset split must be train or test, not {split!r}")
    kind = KINDS[name]
    if name == "shapes":
        return shapes(SHAPES_SIZES[split], split=split)
    if kind.generated:
        return synthetic(2048 if split == "train" else 512, split=split)
    if name == SAMPLE:  # MNIST's own IDX files, 10,000 real digits shipped in the package
        sample = load_idx_set("mnist", split, SAMPLE_DIR, download=False)
        return ImageSet(sample.images, sample.labels, sample.classes, SAMPLE)
    root = dataset_dir(name, data_dir, cache_dir)
    if data_dir is not None and not root.is_dir():
        raise UsageError(f"--data-dir {data_dir}: no such folder")
    if kind.family == "cifar":
        return load_cifar(name, split, root, download)
    return load_idx_set(name, split, root, download)


def class_count(name: str) -> int | None:
    """How many classes a named dataset has, known without reading it (None: synthetic)."""
    if name == SAMPLE:
        return len(SOURCES["mnist"].classes)
    if name == "shapes":
        return len(SHAPE_CLASSES)
    if name in CIFAR:
        return CIFAR[name][-1]
    return len(SOURCES[name].classes) if name in SOURCES else None


def dataset_dir(name: str, data_dir: str | None = None, cache_dir: str | None = None) -> Path:
    """`data_dir` as given, else <cache>/<name>: cache_dir, $CNNCLI_DATA or ~/.cache/cnncli."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    base = cache_dir or os.environ.get("CNNCLI_DATA") or "~/.cache/cnncli/datasets"
    return Path(base).expanduser() / name
