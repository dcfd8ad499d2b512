"""Downloading one file: checked against a hash, written atomically, with a timeout.

Shared by the datasets (MD5, as torchvision lists them) and the pretrained weights (the
SHA-256 prefix in the file's name, as torch.hub checks it). A file already in a cache is
checked too, on first use, and the result remembered beside it (`.NAME.checked`, keyed by
size and modification time) so that a 100 MB file is not hashed on every run.
"""

from __future__ import annotations

import contextlib
import hashlib
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..errors import UsageError
from ..files import write_atomically

TIMEOUT_S = 30.0
CHUNK = 1 << 20


def _label(algorithm: str) -> str:
    return {"md5": "MD5", "sha256": "SHA-256"}.get(algorithm, algorithm)


def digest_of(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_cached(path: Path, expected: str, algorithm: str = "sha256") -> Path:
    """A cached file whose hash must start with `expected`: hashed on first use, then
    remembered while its size and modification time stay the same."""
    stat = path.stat()
    stamp = f"{algorithm} {expected.lower()} {stat.st_size} {stat.st_mtime_ns}\n"
    marker = path.with_name(f".{path.name}.checked")
    try:
        if marker.read_text() == stamp:
            return path
    except OSError:
        pass  # not checked yet
    got = digest_of(path, algorithm)
    if not got.startswith(expected.lower()):
        raise UsageError(f"{path}: its {_label(algorithm)} checksum is {got[:16]}..., not the "
                         f"{expected}... its name promises, so it is damaged or not the "
                         "published file; delete it and run again to download it")
    with contextlib.suppress(OSError):  # a read-only cache is checked on every use instead
        marker.write_text(stamp)
    return path


def fetch(url: str, target: Path, expected: str, algorithm: str = "md5",
          timeout: float = TIMEOUT_S, announce: Callable[[str], None] | None = None) -> Path:
    """Download url to target; renamed into place only when its hash starts with `expected`.

    Network failures raise OSError (urllib's URLError is one) for the caller to explain.
    The "downloading" line goes to stderr first, or to `announce` once the server answers.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    said = f"cnncli: downloading {url} to {target.parent}"
    if announce is None:
        print(said, file=sys.stderr)
    def download(part: Path) -> None:
        digest = hashlib.new(algorithm, usedforsecurity=False)
        with open(part, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as reply:
            if announce is not None:
                announce(said)
            while chunk := reply.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
        got = digest.hexdigest()
        if not expected or not got.startswith(expected.lower()):
            raise UsageError(f"{url}: the download's {_label(algorithm)} checksum is {got}, "
                             f"expected {expected}{'...' if len(expected) < len(got) else ''}; the "
                             "file is damaged or changed, so it was not kept")

    write_atomically(target, download)  # renamed into place only when the hash matched
    return target
