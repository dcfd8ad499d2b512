"""A spec travels inside a checkpoint as the text of its files: `snapshot` takes it, `restore`
resolves it again without the original files."""

from __future__ import annotations

import os
import tempfile
from itertools import takewhile
from typing import Any

from ..errors import UsageError
from .ir import Network
from .load import load_file
from .variants import plain


def snapshot(net: Network) -> dict[str, Any]:
    """Everything needed to resolve `net` again without its files: plain data only."""
    main_dir = os.path.dirname(os.path.abspath(net.source))
    return {
        "source": net.source,
        "main": os.path.basename(net.source),
        "files": {os.path.relpath(os.path.abspath(p), main_dir): text
                  for p, text in net.files.items()},
        "variant": net.variant,
        "overrides": {k: plain(v) for k, v in net.overrides.items()},
        "input": list(net.input),
    }


def restore(snap: Any) -> Network:
    """Resolve a snapshot made by `snapshot` (from a checkpoint); refuse malformed ones."""
    ok = (isinstance(snap, dict) and isinstance(snap.get("files"), dict)
          and isinstance(snap.get("main"), str) and snap["main"] in snap["files"]
          and all(isinstance(k, str) and isinstance(v, str) for k, v in snap["files"].items()))
    if not ok:
        raise UsageError("the checkpoint's spec is missing or malformed")
    depth = max(_updirs(rel) for rel in snap["files"])
    with tempfile.TemporaryDirectory(prefix="cnncli-spec-") as tmp:
        base = os.path.join(tmp, *(["d"] * depth))
        for rel, text in snap["files"].items():
            path = os.path.normpath(os.path.join(base, rel))
            if not path.startswith(tmp + os.sep):
                raise UsageError(f"the checkpoint's spec names a file outside itself: {rel!r}")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
        net = load_file(os.path.join(base, snap["main"]), snap.get("variant"),
                        snap.get("overrides") or {}, tuple(snap.get("input") or ()) or None)
    # Point back at the original names, so that a snapshot of this network (a resumed run's
    # next checkpoint) reads like the one it came from, not like the temporary folder.
    net.source = str(snap.get("source", snap["main"]))
    origin = os.path.dirname(os.path.abspath(net.source))
    net.files = {os.path.normpath(os.path.join(origin, rel)): text
                 for rel, text in snap["files"].items()}
    return net


def _updirs(rel: str) -> int:
    """How many folders above the main file `rel` reaches ('../../x.yaml' -> 2)."""
    parts = os.path.normpath(rel).split(os.sep)
    return len(list(takewhile(lambda part: part == "..", parts)))
