"""Writing a file atomically: under a temporary name in its folder, then renamed into place.

A crash, a full disk or an error mid-write leaves the previous file (or none) intact, never
half a file. Every file cnncli writes goes through `write_atomically`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

SUFFIX = ".tmp"
#: what a temporary file left by a killed process looks like in its folder
TORN = f".*{SUFFIX}"


def write_atomically(path: str | Path, content: str | bytes | Callable[[Path], object]) -> Path:
    """Write `content` to `path`: text (UTF-8), bytes, or a function that writes the file at
    the path it is given (`torch.save`, `savefig`, an ONNX exporter).

    What the function raises propagates, and the temporary file is removed. The file gets the
    mode a plain `open` would give it (the temporary one is private until then).
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=SUFFIX,
                               dir=target.parent if str(target.parent) else ".")
    try:
        if callable(content):
            os.close(fd)
            content(Path(tmp))
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content.encode("utf-8") if isinstance(content, str) else content)
        _sync(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _sync(path: str) -> None:
    """Flush the file to disk before the rename, so the rename never exposes empty data."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it
    os.umask(mask)
    return mask
