"""The MNIST family (MNIST, Fashion-MNIST, KMNIST): IDX files, plain or gzipped."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path
from typing import IO

import torch

from ...errors import UsageError
from .download import CHUNK, SOURCES, download_files
from .imageset import ImageSet, check_labels

IDX_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


IMAGES_MAGIC, LABELS_MAGIC = 0x0803, 0x0801  # 0x08: unsigned bytes; low byte: dimensions


def load_idx_set(name: str, split: str, root: Path, download: bool) -> ImageSet:
    source = SOURCES[name]
    wanted = IDX_FILES[split]
    found = _find_idx(root, wanted, source.tv_name)
    missing = [f"{w}.gz" for w, f in zip(wanted, found) if f is None]
    if missing:
        download_files(name, source, missing, root, download)
        found = _find_idx(root, wanted, source.tv_name)
    image_file, label_file = found
    assert image_file is not None and label_file is not None
    images = read_idx_images(image_file)
    labels = read_idx_labels(label_file)
    check_labels(labels, len(images), len(source.classes), label_file, image_file)
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
