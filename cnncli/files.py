"""Writing a file atomically: under a temporary name in its folder, then renamed into place.

A crash, a full disk or an error mid-write leaves the previous file (or none) intact, never
half a file. Every file cnncli writes goes through `write_atomically`. `cached` keeps figures
derived from files (the zoo's names, `cnncli list`'s table) in the user cache, keyed by the
files' sizes and modification times (`stamps`), so a static command need not re-derive them.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

SUFFIX = ".tmp"
#: what a temporary file left by a killed process looks like in its folder
TORN = f".*{SUFFIX}"
T = TypeVar("T")


def write_atomically(path: str | Path, content: str | bytes | Callable[[Path], object]) -> Path:
    """Write `content` to `path`: text (UTF-8), bytes, or a function that writes the file at
    the path it is given (`torch.save`, `savefig`, an ONNX exporter).

    What the function raises propagates, and the temporary file is removed. The file gets the
    mode a plain `open` would give it (the temporary one is private until then).
    """
    import tempfile  # here: it loads random and shutil, which a static command never needs

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


# -- caches: figures derived from files, kept until the files change ----------------------

def cache_dir(kind: str, variable: str) -> Path:
    """Where cnncli keeps `kind`: $variable if set, else ~/.cache/cnncli/<kind>, beside the
    weights and datasets caches."""
    return Path(os.environ.get(variable) or f"~/.cache/cnncli/{kind}").expanduser()


def stamps(folder: Path, suffixes: tuple[str, ...], recursive: bool = False) -> list[list[Any]]:
    """[relative path, size, mtime in ns] of each file under folder ending in one of
    suffixes, sorted: what a cache built from those files is keyed by."""
    found: list[list[Any]] = []
    todo = [str(folder)] if folder.is_dir() else []  # no folder: no files, as glob would say
    while todo:
        current = todo.pop()
        with os.scandir(current) as entries:
            for entry in entries:
                if recursive and entry.is_dir() and entry.name != "__pycache__":
                    todo.append(entry.path)
                elif entry.name.endswith(suffixes) and entry.is_file():
                    stat = entry.stat()
                    # the path below folder (os.path.relpath's answer, without its cost)
                    relative = entry.path[len(str(folder)):].lstrip(os.sep)
                    found.append([relative, stat.st_size, stat.st_mtime_ns])
    return sorted(found)


def cached(path: Path, key: Any, build: Callable[[], T],
           valid: Callable[[Any], bool] = lambda value: True) -> T:
    """build()'s value (plain JSON data), kept in the file at path under key: read back while
    the stored key equals key (and `valid` accepts the value), else built and stored. A cache
    that cannot be read, parsed or written is rebuilt on each call, silently (a read-only
    HOME still works)."""
    key = json.loads(json.dumps(key))  # tuples as lists, as they come back from the file
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError, IndexError):
        stored = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(stored, dict) and stored.get("key") == key and valid(stored["value"]):
            return stored["value"]
    value = build()
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps({"key": key, "value": value}))
    return value
