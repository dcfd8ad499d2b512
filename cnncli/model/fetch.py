"""Downloading one file: checked against a hash, written atomically, with a timeout.

Shared by the datasets (MD5, as torchvision lists them) and the pretrained weights (the
SHA-256 prefix in the file's name, as torch.hub checks it).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..errors import UsageError

TIMEOUT_S = 30.0
CHUNK = 1 << 20


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
    fd, part = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        digest = hashlib.new(algorithm, usedforsecurity=False)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as reply:
            if announce is not None:
                announce(said)
            while chunk := reply.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
        got = digest.hexdigest()
        if not expected or not got.startswith(expected.lower()):
            name = {"md5": "MD5", "sha256": "SHA-256"}.get(algorithm, algorithm)
            raise UsageError(f"{url}: the download's {name} checksum is {got}, expected "
                             f"{expected}{'...' if len(expected) < len(got) else ''}; the "
                             "file is damaged or changed, so it was not kept")
        os.replace(part, target)
    finally:
        if os.path.exists(part):
            os.unlink(part)
    return target
