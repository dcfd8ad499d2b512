"""CIFAR-10 and CIFAR-100: the python batches, read through a restricted unpickler."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import IO, Any

import torch

from ...errors import UsageError
from .download import SOURCES, download_files
from .imageset import ImageSet, check_labels

CIFAR = {  # name -> (batch files per split, meta file, labels key, class names key, classes)
    "cifar10": ({"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)},
                "batches.meta", "labels", "label_names", 10),
    "cifar100": ({"train": ("train",), "test": ("test",)}, "meta", "fine_labels",
                 "fine_label_names", 100),
}


def load_cifar(name: str, split: str, root: Path, download: bool) -> ImageSet:
    source = SOURCES[name]
    batches, meta, labels_key, names_key, classes = CIFAR[name]
    wanted = (*batches[split], meta)
    folder = _cifar_folder(root, source.folder or "", wanted)
    if folder is None:
        assert source.archive is not None
        download_files(name, source, [source.archive], root, download,
                        needed=f"{source.folder}/ with {', '.join(wanted)}")
        folder = _cifar_folder(root, source.folder or "", wanted)
        if folder is None:
            raise UsageError(f"{source.archive} did not hold {source.folder}/ with "
                             f"{', '.join(wanted)}")
    names = [_text(n, folder / meta) for n in _field(read_pickle(folder / meta), names_key,
                                                     folder / meta, list)]
    if len(names) != classes:
        raise UsageError(f"{folder / meta}: {len(names)} class names, expected {classes}")
    images, labels = [], []
    for batch in batches[split]:
        path = folder / batch
        x, y = _cifar_batch(read_pickle(path), labels_key, path)
        check_labels(y, len(x), classes, path, path)
        images.append(x)
        labels.append(y)
    return ImageSet(torch.cat(images), torch.cat(labels), names, name)


def _cifar_folder(root: Path, folder: str, wanted: tuple[str, ...]) -> Path | None:
    """The folder holding the batches: <root>/<folder>, or root itself (pointed straight at)."""
    for candidate in (root / folder, root):
        if all((candidate / w).is_file() for w in wanted):
            return candidate
    return None


def _cifar_batch(batch: Any, labels_key: str, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    np = _numpy()

    data = _field(batch, "data", path, np.ndarray)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise UsageError(f"{path}: data is {data.dtype} {data.shape}; a CIFAR batch holds uint8 "
                         "rows of 3072 pixels")
    labels = _field(batch, labels_key, path, (list, np.ndarray))
    try:
        y = torch.tensor([int(v) for v in labels], dtype=torch.int64)
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"{path}: {labels_key} must be integers") from None
    # each row is 1024 red, then green, then blue values, row by row: (3, 32, 32) as it stands
    x = torch.from_numpy(np.ascontiguousarray(data)).view(-1, 3, 32, 32).clone()
    return x, y


def _field(batch: Any, key: str, path: Path, kind: type | tuple[type, ...]) -> Any:
    """batch[key] for bytes keys (Python 2 pickles read as bytes) or str keys."""
    if not isinstance(batch, dict):
        raise UsageError(f"{path}: holds a {type(batch).__name__}, not a CIFAR dictionary")
    value = batch.get(key.encode(), batch.get(key))
    if value is None:
        raise UsageError(f"{path}: no {key!r} entry; is this a CIFAR file?")
    if not isinstance(value, kind):
        raise UsageError(f"{path}: {key!r} is a {type(value).__name__}")
    return value


def _text(value: Any, path: Path) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    raise UsageError(f"{path}: class names must be text, found a {type(value).__name__}")


class _CifarUnpickler(pickle.Unpickler):
    """Builds dicts, lists, text, numbers and numpy arrays, and nothing else.

    A pickle names the functions it calls; any other name could run code (os.system, eval...),
    so only numpy's array reconstructors are allowed, under their numpy 1 and numpy 2 names.
    """

    def __init__(self, file: IO[bytes], path: Path):
        super().__init__(file, encoding="bytes")  # CIFAR's Python 2 str become bytes
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        allowed = _numpy_globals()
        if (module, name) not in allowed:
            raise UsageError(f"{self.path}: the file tries to load {module}.{name}, which could "
                             "run code; refusing to read it")
        return allowed[(module, name)]


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        raise UsageError("reading CIFAR files needs numpy: pip install numpy") from None
    return numpy


def _numpy_globals() -> dict[tuple[str, str], Any]:
    np = _numpy()
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    found = {"_reconstruct": multiarray._reconstruct, "ndarray": np.ndarray, "dtype": np.dtype,
             # what Python 3 writes for an array at pickle protocol 5 (a re-saved batch)
             "_frombuffer": numeric._frombuffer}
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        for name in ("_reconstruct", "ndarray", "dtype"):
            allowed[(module, name)] = found[name]
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(module, "_frombuffer")] = found["_frombuffer"]
    return allowed


def read_pickle(path: Path | str) -> Any:
    """A CIFAR pickle through the restricted unpickler."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _CifarUnpickler(f, path).load()
    except UsageError:
        raise
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, OverflowError, UnicodeDecodeError, MemoryError) as exc:
        raise UsageError(f"{path}: not a readable CIFAR pickle ({type(exc).__name__}: "
                         f"{exc})") from None
