"""Datasets for `cnncli train`: the MNIST family (IDX files), CIFAR (pickled batches), image
folders and synthetic images, as uint8 tensors; plus fitting them to a spec's input.

Everything a user can get wrong (missing or corrupt files, no network, hostile pickles, images
that do not fit) raises UsageError with one sentence that names the file or folder.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import torch
import torch.nn.functional as F

from .errors import UsageError

SPLITS = ("train", "test")
FITS = ("pad", "resize", "crop")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
TIMEOUT_S = 30.0
CHUNK = 1 << 20
BATCH_ELEMENTS = 1 << 22  # images per batch in fit_images/normalize_stats: ~4M values at a time
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as Pillow's convert("L")


@dataclass(frozen=True)
class Source:
    """Where a dataset's files come from and what they must hash to (MD5, as torchvision)."""

    url: str  # folder of the files, or the archive's address
    md5: dict[str, str]  # file (or archive) name -> MD5; a dict so tests can patch an entry
    classes: tuple[str, ...]
    archive: str | None = None  # a tar.gz that unpacks to `folder`
    folder: str | None = None
    tv_name: str | None = None  # torchvision keeps the IDX files in <root>/<tv_name>/raw


IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

SOURCES: dict[str, Source] = {
    "mnist": Source(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
         "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
         "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
         "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
        tuple("0123456789"), tv_name="MNIST"),
    "fashion-mnist": Source(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
         "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
         "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
         "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"},
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
         "Bag", "Ankle boot"), tv_name="FashionMNIST"),
    "kmnist": Source(
        "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        {"train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
         "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
         "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
         "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134"},
        ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"), tv_name="KMNIST"),
    "cifar10": Source(
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
        (), archive="cifar-10-python.tar.gz", folder="cifar-10-batches-py"),
    "cifar100": Source(
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        {"cifar-100-python.tar.gz": "eb9058c3a382ffc7106e4002c42a8d85"},
        (), archive="cifar-100-python.tar.gz", folder="cifar-100-python"),
}
CIFAR = {  # name -> (batch files per split, meta file, labels key, class names key, classes)
    "cifar10": ({"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)},
                "batches.meta", "labels", "label_names", 10),
    "cifar100": ({"train": ("train",), "test": ("test",)}, "meta", "fine_labels",
                 "fine_label_names", 100),
}
NAMES = (*SOURCES, "synthetic")


# -- the in-memory set -------------------------------------------------------------------

@dataclass
class ImageSet:
    """A labelled set of images held in memory: uint8 (N, C, H, W) and int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or len(self.images) != len(self.labels):
            raise ValueError(f"images {tuple(self.images.shape)} and labels "
                             f"{tuple(self.labels.shape)} do not make an image set")

    def __len__(self) -> int:
        return len(self.labels)

    def split(self, fraction: float, seed: int) -> tuple[ImageSet, ImageSet]:
        """(rest, held out): a random `fraction` held out, the same for the same seed."""
        n = len(self)
        held = round(n * fraction)
        if not 0 < fraction < 1 or not 0 < held < n:
            raise UsageError(f"--val-split {fraction:g} leaves no images on one side of "
                             f"{self.name}'s {n:,}; give a fraction between 0 and 1")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        # sorted within each part: the subsets keep the file order, which reads faster
        rest, val = order[held:].sort().values, order[:held].sort().values
        return self._subset(rest), self._subset(val)

    def _subset(self, index: torch.Tensor) -> ImageSet:
        return ImageSet(self.images[index], self.labels[index], list(self.classes), self.name)


def load(name: str, split: str, data_dir: str | None = None, download: bool = True,
         cache_dir: str | None = None) -> ImageSet:
    """One split of a named dataset, read from `data_dir` or the cache (downloaded if missing)."""
    if name not in NAMES:
        raise UsageError(f"no dataset named {name!r}; known: {', '.join(NAMES)}")
    if split not in SPLITS:
        raise UsageError(f"dataset split must be train or test, not {split!r}")
    if name == "synthetic":
        return synthetic(2048 if split == "train" else 512, split=split)
    root = dataset_dir(name, data_dir, cache_dir)
    if data_dir is not None and not root.is_dir():
        raise UsageError(f"--data-dir {data_dir}: no such folder")
    if name in CIFAR:
        return _load_cifar(name, split, root, download)
    return _load_idx_set(name, split, root, download)


def dataset_dir(name: str, data_dir: str | None = None, cache_dir: str | None = None) -> Path:
    """`data_dir` as given, else <cache>/<name>: cache_dir, $CNNCLI_DATA or ~/.cache/cnncli."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    base = cache_dir or os.environ.get("CNNCLI_DATA") or "~/.cache/cnncli/datasets"
    return Path(base).expanduser() / name


# -- IDX (MNIST, Fashion-MNIST, KMNIST) --------------------------------------------------

IMAGES_MAGIC, LABELS_MAGIC = 0x0803, 0x0801  # 0x08: unsigned bytes; low byte: dimensions


def _load_idx_set(name: str, split: str, root: Path, download: bool) -> ImageSet:
    source = SOURCES[name]
    wanted = IDX_FILES[split]
    found = _find_idx(root, wanted, source.tv_name)
    missing = [f"{w}.gz" for w, f in zip(wanted, found) if f is None]
    if missing:
        _download_files(name, source, missing, root, download)
        found = _find_idx(root, wanted, source.tv_name)
    image_file, label_file = found
    assert image_file is not None and label_file is not None
    images = read_idx_images(image_file)
    labels = read_idx_labels(label_file)
    _check_labels(labels, len(images), len(source.classes), label_file, image_file)
    return ImageSet(images, labels, list(source.classes), name)


def _find_idx(root: Path, wanted: tuple[str, ...], tv_name: str | None) -> list[Path | None]:
    folders = [root, root / "raw"] + ([root / tv_name / "raw"] if tv_name else [])
    found: list[Path | None] = []
    for stem in wanted:
        hits = [folder / f"{stem}{ext}" for folder in folders for ext in ("", ".gz")]
        found.append(next((p for p in hits if p.is_file()), None))
    return found


def read_idx_images(path: Path | str) -> torch.Tensor:
    """An IDX file of unsigned-byte images to uint8 (N, 1, H, W)."""
    path = Path(path)
    (n, h, w), data = _read_idx(path, IMAGES_MAGIC, "images")
    if data is None:
        raise UsageError(f"{path}: the header declares {n} images of {h}x{w}; expected at least "
                         "one image of at least 1x1")
    return torch.frombuffer(data, dtype=torch.uint8).view(n, 1, h, w)


def read_idx_labels(path: Path | str) -> torch.Tensor:
    """An IDX file of unsigned-byte labels to int64 (N,)."""
    path = Path(path)
    (n,), data = _read_idx(path, LABELS_MAGIC, "labels")
    if data is None:
        raise UsageError(f"{path}: the header declares no labels")
    return torch.frombuffer(data, dtype=torch.uint8).to(torch.int64)


def _read_idx(path: Path, magic: int, what: str) -> tuple[tuple[int, ...], bytearray | None]:
    """Header dimensions and exactly the bytes they declare (None when they declare none)."""
    ndim = magic & 0xFF
    with _open_maybe_gzip(path) as f:
        head = _read_upto(f, 4 + 4 * ndim, path)
        if len(head) < 4:
            raise UsageError(f"{path}: truncated: {len(head)} bytes, too short for an IDX header")
        found = int.from_bytes(head[:4], "big")
        if found != magic:
            raise UsageError(f"{path}: not an IDX file of {what}: magic number {found:#010x}, "
                             f"expected {magic:#010x}")
        if len(head) < 4 + 4 * ndim:
            raise UsageError(f"{path}: truncated: the header ends after {len(head)} bytes")
        dims = tuple(int.from_bytes(head[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
        size = math.prod(dims)
        if size == 0:
            return dims, None
        # one byte past the declared size: more data than declared means a corrupt file
        data = _read_upto(f, size + 1, path)
    if len(data) != size:
        declared = f"{dims[0]} {what}" + (f" of {dims[1]}x{dims[2]}" if ndim == 3 else "")
        payload = "bytes of pixels" if ndim == 3 else "bytes of labels"
        if len(data) < size:
            raise UsageError(f"{path}: truncated: header says {declared} but the file holds "
                             f"{len(data)} {payload}")
        raise UsageError(f"{path}: corrupt: more data than the header's {declared}")
    return dims, data


def _open_maybe_gzip(path: Path) -> IO[bytes]:
    """The file's bytes, through gzip when it starts with gzip's magic (whatever its name)."""
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        # handed on to the caller's `with`
        return gzip.open(path, "rb") if gzipped else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"{path}: cannot open ({exc.strerror or exc})") from None


def _read_upto(f: IO[bytes], size: int, path: Path) -> bytearray:
    """Up to `size` bytes; memory grows with what the file really holds, not what it claims."""
    out = bytearray()
    try:
        while len(out) < size:
            chunk = f.read(min(CHUNK, size - len(out)))
            if not chunk:
                break
            out += chunk
    except EOFError:
        raise UsageError(f"{path}: truncated: the gzip stream ends early") from None
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise UsageError(f"{path}: corrupt gzip data ({exc})") from None
    return out


def _check_labels(labels: torch.Tensor, count: int, classes: int, label_file: Path | str,
                  image_file: Path | str) -> None:
    if len(labels) != count:
        raise UsageError(f"{label_file} holds {len(labels):,} labels but {image_file} holds "
                         f"{count:,} images")
    bad = ((labels < 0) | (labels >= classes)).nonzero().flatten()
    if len(bad):
        i = int(bad[0])
        raise UsageError(f"{label_file}: label {int(labels[i])} at position {i} is outside "
                         f"0-{classes - 1}")


# -- CIFAR (pickled batches) -------------------------------------------------------------

def _load_cifar(name: str, split: str, root: Path, download: bool) -> ImageSet:
    source = SOURCES[name]
    batches, meta, labels_key, names_key, classes = CIFAR[name]
    wanted = (*batches[split], meta)
    folder = _cifar_folder(root, source.folder or "", wanted)
    if folder is None:
        assert source.archive is not None
        _download_files(name, source, [source.archive], root, download,
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
        _check_labels(y, len(x), classes, path, path)
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


# -- downloads ---------------------------------------------------------------------------

def _download_files(name: str, source: Source, files: list[str], root: Path, download: bool,
                    needed: str | None = None) -> None:
    """Fetch files (or the archive) into root, checked, or say which files to put where."""
    needed = needed or ", ".join(files)
    if not download:
        raise UsageError(f"{name}: {needed} not found in {root}; put the files there (or point "
                         "--data-dir at local copies), or allow downloading")
    for file in files:
        url = source.url if source.archive else source.url + file
        try:
            target = fetch(url, root / file, source.md5[file])
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            where = f"unpacked from {source.url}" if source.archive else f"from {source.url}"
            raise UsageError(f"cannot download {name} from {url} ({reason}); put {needed} "
                             f"({where}) in {root}, or point --data-dir at local copies"
                             ) from None
        if source.archive:
            try:
                extract_tar(target, root)
            finally:
                target.unlink()


def fetch(url: str, target: Path, md5: str, timeout: float = TIMEOUT_S) -> Path:
    """Download url to target, checked against its MD5; renamed into place only when it matches.

    Network failures raise OSError (urllib's URLError is one) for the caller to explain.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"cnncli: downloading {url} to {target.parent}", file=sys.stderr)
    fd, part = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as reply:
            while chunk := reply.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != md5.lower():
            raise UsageError(f"{url}: the download's MD5 checksum is {digest.hexdigest()}, "
                             f"expected {md5}; the file is damaged or changed, so it was not kept")
        os.replace(part, target)
    finally:
        if os.path.exists(part):
            os.unlink(part)
    return target


def extract_tar(archive: Path, root: Path) -> None:
    """Unpack a tar(.gz) into root: only plain files and folders, all inside root.

    Everything lands in a temporary folder first and moves into place at the end, so an
    interrupted or refused unpack leaves nothing half-written in root.
    """
    scratch = Path(tempfile.mkdtemp(prefix=".unpack.", dir=root))
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                dest = _member_path(member, archive, scratch)
                if member.isdir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                with source, open(dest, "wb") as out:
                    shutil.copyfileobj(source, out, CHUNK)
        for entry in scratch.iterdir():
            _move_into(entry, root / entry.name)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise UsageError(f"{archive}: not a readable tar archive ({exc})") from None
    except OSError as exc:
        raise UsageError(f"{archive}: cannot unpack into {root} ({exc})") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _move_into(source: Path, dest: Path) -> None:
    """Move a file or folder into place; a folder already there (partly) is filled in."""
    if source.is_dir() and dest.is_dir():
        for child in source.iterdir():
            _move_into(child, dest / child.name)
    else:
        os.replace(source, dest)


def _member_path(member: tarfile.TarInfo, archive: Path, scratch: Path) -> Path:
    name = member.name
    parts = Path(name).parts
    if not (member.isfile() or member.isdir()):
        raise UsageError(f"{archive}: member {name!r} is a link or device; refusing to unpack")
    if not parts and member.isdir():  # "." in an archive made with `tar -C dir .`
        return scratch
    if name.startswith(("/", "\\")) or Path(name).is_absolute() or ".." in parts or not parts:
        raise UsageError(f"{archive}: member {name!r} points outside the folder; refusing to "
                         "unpack")
    return scratch.joinpath(*parts)


# -- synthetic images --------------------------------------------------------------------

def synthetic(n: int = 2048, shape: tuple[int, ...] = (1, 28, 28), classes: int = 10,
              seed: int = 0, split: str = "train") -> ImageSet:
    """Random but learnable images: each class is a smooth mean pattern plus pixel noise.

    The patterns depend on `seed` alone and the samples on (seed, split), so the train and
    test splits of one seed share their classes.
    """
    if len(shape) != 3 or min(shape) < 1:
        raise UsageError(f"synthetic images need a CxHxW input, not {'x'.join(map(str, shape))}")
    if n < 1 or classes < 1:
        raise UsageError(f"synthetic data needs at least one image and one class, got {n} "
                         f"images of {classes} classes")
    c, h, w = shape
    patterns_gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(classes, c, 4, 4, generator=patterns_gen) * 160 + 48
    # smooth 4x4 patterns: distinct per class, and still there after resizing or cropping
    patterns = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    sample_gen = torch.Generator().manual_seed(seed * 2 + SPLITS.index(split) + 1)
    labels = (torch.arange(n) % classes)[torch.randperm(n, generator=sample_gen)]
    noise = torch.randn(n, c, h, w, generator=sample_gen) * 24
    images = (patterns[labels] + noise).round_().clamp_(0, 255).to(torch.uint8)
    return ImageSet(images, labels, [str(i) for i in range(classes)], "synthetic")


# -- image folders -----------------------------------------------------------------------

def load_imagefolder(root: str) -> tuple[list[tuple[Path, int]], list[str]]:
    """(image file, class index) pairs and the sorted class names of a folder of class folders."""
    top = Path(root).expanduser()
    if not top.is_dir():
        raise UsageError(f"{top}: no such folder of class subfolders")
    classes = sorted(p.name for p in top.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise UsageError(f"{top}: no class subfolders; put each class's images in a subfolder "
                         "named after it")
    samples: list[tuple[Path, int]] = []
    for index, name in enumerate(classes):
        files = sorted(p for p in (top / name).rglob("*")
                       if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                       and not p.name.startswith("."))
        if not files:
            raise UsageError(f"{top / name}: no .png, .jpg or .jpeg images in this class folder")
        samples.extend((p, index) for p in files)
    return samples, classes


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise UsageError("imagefolder needs Pillow: pip install 'cnncli[images]'") from None
    return Image


def decode_image(path: Path | str, size: tuple[int, int] | None, channels: int) -> torch.Tensor:
    """One image file as uint8 (channels, H, W), resized to size (H, W) unless size is None."""
    if channels not in (1, 3):
        raise UsageError(f"images can be read with 1 or 3 channels, not {channels}")
    image_mod = _pillow()
    try:
        with image_mod.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), image_mod.Resampling.BILINEAR)
            width, height = image.size
            pixels = bytearray(image.tobytes())
    except (OSError, ValueError, SyntaxError, image_mod.DecompressionBombError) as exc:
        raise UsageError(f"{path}: cannot read the image ({exc})") from None
    return torch.frombuffer(pixels, dtype=torch.uint8).view(height, width, channels) \
        .permute(2, 0, 1).contiguous()


class ImageFolderDataset(torch.utils.data.Dataset):
    """A folder of class subfolders, decoded on demand to uint8 (C, H, W) of one size."""

    def __init__(self, root: str, size: tuple[int, int], channels: int):
        _pillow()  # fail now, not in a loader worker, when Pillow is missing
        if channels not in (1, 3):
            raise UsageError(f"imagefolder images can have 1 or 3 channels, not {channels}")
        self.samples, self.classes = load_imagefolder(root)
        self.size, self.channels = size, channels

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        return decode_image(path, self.size, self.channels), label


def stream_batches(dataset: torch.utils.data.Dataset, chunks: list[list[int]], workers: int,
                   pin: bool) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Decode batches of `dataset` (index lists `chunks`) in DataLoader workers.

    A worker's UsageError (an unreadable image) comes back as data and is raised here as the
    one sentence it is, not wrapped in the loader's traceback.
    """
    loader = torch.utils.data.DataLoader(_Caught(dataset), batch_sampler=chunks,
                                         num_workers=workers, pin_memory=pin,
                                         collate_fn=_stack_checked)
    for batch in loader:
        if isinstance(batch, str):
            raise UsageError(batch)
        yield batch


def _stack_checked(batch: list[tuple[Any, int, str | None]]) -> Any:
    for _, _, error in batch:
        if error is not None:
            return error
    return (torch.stack([image for image, _, _ in batch]),
            torch.tensor([label for _, label, _ in batch], dtype=torch.int64))


class _Caught(torch.utils.data.Dataset):
    def __init__(self, dataset: Any):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, int, str | None]:
        try:
            return (*self.dataset[index], None)
        except UsageError as exc:
            return None, -1, str(exc)


def read_image(path: str, shape: tuple[int, ...], fit: str | None) -> torch.Tensor:
    """One image for prediction as uint8 (C, H, W): fitted like the training data, or resized
    when training needed no fitting (a photo rarely has the training images' size)."""
    c, h, w = _image_shape(shape)
    if not Path(path).is_file():
        raise UsageError(f"{path}: no such image file")
    image = read_npy(path, c) if path.endswith(".npy") else decode_image(path, None, c)
    return fit_images(image[None], (c, h, w), fit or "resize")[0]


def read_npy(path: str, channels: int) -> torch.Tensor:
    """A .npy array as uint8 (C, H, W): HxW grey, HxWxC or CxHxW; floats in [0, 1] scaled."""
    import numpy as np

    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable .npy array ({exc})") from None
    if array.ndim == 2:
        array = array[None]
    elif array.ndim == 3 and array.shape[-1] in (1, 3) and array.shape[0] not in (1, 3):
        array = array.transpose(2, 0, 1)
    if array.ndim != 3 or array.shape[0] not in (1, 3):
        raise UsageError(f"{path}: expected an HxW, HxWxC or CxHxW image, got shape "
                         f"{array.shape}")
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise UsageError(f"{path}: the array holds NaN or infinite values")
        array = np.clip(array * 255 if array.max() <= 1 else array, 0, 255).round()
    elif array.dtype.kind not in "ui" or array.min() < 0 or array.max() > 255:
        raise UsageError(f"{path}: pixel values must be 0..255 integers or 0..1 floats")
    image = torch.from_numpy(np.ascontiguousarray(array.astype(np.uint8)))
    if image.shape[0] != channels:  # grey to colour by repetition, colour to grey by luma
        image = fit_images(image[None], (channels, *image.shape[1:]), "resize")[0]
    return image


# -- fitting and statistics --------------------------------------------------------------

def fit_images(images: torch.Tensor, shape: tuple[int, ...], mode: str | None) -> torch.Tensor:
    """uint8 (N, C, H, W) adapted to a spec's (C, H, W): zero padding, centre crop or resize
    (bilinear), with 1 -> 3 channels by repetition and 3 -> 1 by luma. Unchanged if it fits."""
    c, h, w = _image_shape(shape)
    n, c0, h0, w0 = images.shape
    if (c0, h0, w0) == (c, h, w):
        return images
    have, want = "x".join(map(str, (c0, h0, w0))), "x".join(map(str, (c, h, w)))
    if mode is None:
        raise UsageError(f"the images are {have} but the spec takes {want}; pass --fit pad, "
                         "resize or crop to adapt them")
    if mode not in FITS:
        raise UsageError(f"--fit must be one of {', '.join(FITS)}, not {mode!r}")
    if c0 != c and (c0, c) not in ((1, 3), (3, 1)):
        raise UsageError(f"the images have {c0} channels and the spec takes {c}; only 1 <-> 3 "
                         "channels can be converted")
    if mode == "pad" and (h0 > h or w0 > w):
        raise UsageError(f"--fit pad: the images ({have}) are larger than the spec's input "
                         f"({want}); use --fit crop or resize")
    if mode == "crop" and (h0 < h or w0 < w):
        raise UsageError(f"--fit crop: the images ({have}) are smaller than the spec's input "
                         f"({want}); use --fit pad or resize")
    out = torch.empty((n, c, h, w), dtype=torch.uint8)
    step = max(1, BATCH_ELEMENTS // (max(c0, c) * max(h0, h) * max(w0, w)))
    for start in range(0, n, step):
        batch = images[start:start + step]
        if c0 == 3 and c == 1:  # fewer channels first: less to resize
            batch = _to_grey(batch)
        batch = _fit_space(batch, h, w, mode)
        out[start:start + step] = batch  # 1 -> 3 channels broadcasts here
    return out


def _fit_space(batch: torch.Tensor, h: int, w: int, mode: str) -> torch.Tensor:
    h0, w0 = batch.shape[-2:]
    if (h0, w0) == (h, w):
        return batch
    if mode == "pad":
        top, left = (h - h0) // 2, (w - w0) // 2
        return F.pad(batch, (left, w - w0 - left, top, h - h0 - top))
    if mode == "crop":
        top, left = (h0 - h) // 2, (w0 - w) // 2
        return batch[..., top:top + h, left:left + w]
    shrink = h < h0 or w < w0  # antialias only when shrinking, as Pillow's resize does
    x = F.interpolate(batch.float(), size=(h, w), mode="bilinear", align_corners=False,
                      antialias=shrink)
    return x.round_().clamp_(0, 255).to(torch.uint8)


def _to_grey(batch: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(LUMA, dtype=torch.float32)[None, :, None, None]
    grey = (batch.float() * weights).sum(1, keepdim=True)
    return grey.round_().clamp_(0, 255).to(torch.uint8)


def _image_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise UsageError(f"the spec takes a flat input of {'x'.join(map(str, shape))} values; "
                         "image data needs a CxHxW input")
    c, h, w = (int(s) for s in shape)
    return c, h, w


def normalize_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 (N, C, H, W) images, in [0, 1] units.

    Sums run in float64 over batches, so memory stays bounded and 50,000 images lose nothing.
    A constant channel reports std 1, so that normalising by it never divides by zero.
    """
    if images.dim() != 4 or len(images) == 0:
        raise UsageError(f"cannot compute statistics of an empty or non-image set "
                         f"{tuple(images.shape)}")
    n, c, h, w = images.shape
    total = torch.zeros(c, dtype=torch.float64)
    squares = torch.zeros(c, dtype=torch.float64)
    step = max(1, BATCH_ELEMENTS // (c * h * w))
    for start in range(0, n, step):
        x = images[start:start + step].to(torch.float64)
        total += x.sum((0, 2, 3))
        squares += x.square().sum((0, 2, 3))
    count = n * h * w
    mean = total / count
    var = (squares / count - mean.square()).clamp_(min=0)
    std = var.sqrt() / 255
    std = torch.where(std > 0, std, torch.ones_like(std))
    return (mean / 255).tolist(), std.tolist()
