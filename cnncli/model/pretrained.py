"""Pretrained weights: torchvision's published files or any state_dict, loaded strictly.

`--weights torchvision` (or `imagenet`) reads the file the spec's `torchvision:` section
names: from the weights cache ($CNNCLI_WEIGHTS, else ~/.cache/cnncli/weights, beside the
datasets), from torch.hub's cache if torchvision already downloaded it, or downloaded from
its URL ($CNNCLI_WEIGHTS_URL replaces torchvision's host: a mirror), and checked against the
SHA-256 prefix in its name (a cached file on first use, remembered). `--weights PATH` reads
a .pth state_dict in torchvision's format or a cnncli checkpoint. Every file is read with
torch.load(weights_only=True).

Loading is strict: every key and shape must match, except the classifier when the network
was built for another class count (fine-tuning): it is left to its fresh initialisation.
"""

from __future__ import annotations

import http.client
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import UsageError
from ..spec.freeze import classifier
from ..spec.ir import Network
from . import checkpoint, compat
from .fetch import check_cached, fetch

TORCHVISION = ("torchvision", "imagenet")
HOST = "https://download.pytorch.org/models/"
HASH_RE = re.compile(r"-([a-f0-9]{6,})\.")  # torch.hub's rule: the hash prefix in the name


@dataclass
class Loaded:
    """What a load did, for the run record and the one-line note."""

    source: str  # "torchvision" or the path given
    file: str  # the file read
    url: str | None = None
    tensors: int = 0
    fresh: list[str] = field(default_factory=list)  # the classifier's keys left as built
    note: str = ""

    def record(self) -> dict[str, Any]:
        return {"source": self.source, "file": self.file, "url": self.url,
                "tensors": self.tensors, "fresh": self.fresh}


def weights_dir() -> Path:
    return Path(os.environ.get("CNNCLI_WEIGHTS") or "~/.cache/cnncli/weights").expanduser()


def _hub_dir() -> Path:
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or "~/.cache", "torch")
    return Path(home).expanduser() / "hub" / "checkpoints"


def torchvision_file(network: Network) -> tuple[Path, str]:
    """The network's torchvision weights on disk (downloaded if needed) and their URL."""
    tv = network.torchvision
    if tv is None or tv.weights is None:
        raise UsageError(f"{network.name} has no torchvision weights: its spec has no "
                         "torchvision: section with a weights URL (cnncli list shows which "
                         "zoo networks mirror torchvision); give --weights PATH instead")
    name = tv.file_name
    url = tv.weights
    mirror = os.environ.get("CNNCLI_WEIGHTS_URL")
    if mirror and url.startswith(HOST):
        url = mirror.rstrip("/") + "/" + url[len(HOST):]
    match = HASH_RE.search(name)
    if match is None:
        raise UsageError(f"{network.source}: torchvision weights {name!r} carry no hash in "
                         "their name (name-<sha256 prefix>.pth), so a download cannot be "
                         "checked")
    for folder in (weights_dir(), _hub_dir()):
        if (folder / name).is_file():
            return check_cached(folder / name, match.group(1)), url
    target = weights_dir() / name
    try:
        fetch(url, target, match.group(1), "sha256")
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise UsageError(f"cannot download {name} from {url} ({reason}); put that file in "
                         f"{weights_dir()} (or set CNNCLI_WEIGHTS to the folder holding it)") \
            from None
    return target, url


def weights_file(network: Network, source: str) -> Path:
    """The file `--weights source` names, downloaded and hash-checked if it is torchvision's:
    what a command fetches before any work, so that a failed download prints nothing else."""
    if source.lower() in TORCHVISION:
        return torchvision_file(network)[0]
    path = Path(source).expanduser()
    if not path.is_file():
        raise UsageError(f"--weights {path}: no such file")
    return path


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state_dict from a .pth file or a cnncli checkpoint, read without running code."""
    if not path.is_file():
        raise UsageError(f"--weights {path}: no such file")
    try:
        state = checkpoint.load(path)
        return state["model"]
    except checkpoint.NotACheckpoint:
        pass  # a plain state_dict file: read below

    state = compat.load_tensors(path)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # as many training scripts save it
    if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise UsageError(f"--weights {path}: not a state_dict (a mapping of names to tensors)")
    return state


def head_keys(model: torch.nn.Module, network: Network) -> list[str]:
    """The classifier's keys in `model` (which layer that is, spec.freeze.classifier says:
    the one that --freeze backbone leaves trainable and --lr-backbone spares)."""
    head = classifier(network)
    if head is None:
        return []
    prefix = head.path + "."
    return [k for k in model.state_dict() if k.startswith(prefix) and "." not in
            k[len(prefix):]]


def load_pretrained(model: torch.nn.Module, network: Network, source: str,
                    new_head: bool = True, copy: bool = True) -> Loaded:
    """Load `source` into `model` strictly; with `new_head`, a classifier made for another
    class count stays freshly initialised (fine-tuning). Raises UsageError naming the first
    keys that differ. `copy=False` only checks (a model on the meta device)."""
    if source.lower() in TORCHVISION:
        path, url = torchvision_file(network)
        loaded = Loaded("torchvision", str(path), url)
    else:
        path = Path(source).expanduser()
        loaded = Loaded(source, str(path))
    weights = read_state_dict(path)
    tv = network.torchvision
    own = model.state_dict()
    theirs_of = _their_names(network, own, weights)
    available = {k for k in weights if tv is None or tv.built_here(k)}
    missing = [k for k, t in theirs_of.items() if t not in weights]
    unexpected = sorted(available - set(theirs_of.values()))
    shapes = [k for k, t in theirs_of.items() if t in weights and
              tuple(weights[t].shape) != tuple(own[k].shape)]
    other_classes = all(weights[theirs_of[k]].shape[0] != own[k].shape[0] for k in shapes)
    if new_head and shapes and set(shapes) <= set(head_keys(model, network)) and other_classes \
            and not missing and not unexpected:
        loaded.fresh = shapes
        before = weights[theirs_of[shapes[0]]].shape[0]
        loaded.note = (f"the classifier {shapes[0].rsplit('.', 1)[0]} is new: {before} classes "
                       f"in the weights, {own[shapes[0]].shape[0]} here, so it starts fresh")
        shapes = []
    if missing or unexpected or shapes:
        raise UsageError(_mismatch(path, network.name, missing, unexpected, shapes, own,
                                   weights, theirs_of))
    with torch.no_grad():
        for key, tensor in own.items():
            if key not in loaded.fresh:
                if copy:
                    tensor.copy_(weights[theirs_of[key]])
                loaded.tensors += 1
    return loaded


def _their_names(network: Network, own: dict[str, Any],
                 weights: dict[str, Any]) -> dict[str, str]:
    """Each of our keys' name in the file: torchvision's (through the spec's renames), or
    our own when the file is a state_dict of this spec's model."""
    tv = network.torchvision
    theirs = {k: (tv.their_key(k) if tv is not None else k) for k in own}
    if all(k in weights for k in own) and not all(t in weights for t in theirs.values()):
        return {k: k for k in own}
    return theirs


def _mismatch(path: Path, name: str, missing: list[str], unexpected: list[str],
              shapes: list[str], own: dict[str, Any], weights: dict[str, Any],
              theirs_of: dict[str, str]) -> str:
    parts = []
    if missing:
        parts.append(f"{len(missing)} of this network's keys are not in the file (first: "
                     f"{', '.join(theirs_of[k] for k in missing[:3])})")
    if unexpected:
        parts.append(f"{len(unexpected)} keys of the file are not in this network (first: "
                     f"{', '.join(unexpected[:3])})")
    for key in shapes[:3]:
        parts.append(f"{theirs_of[key]} is {tuple(weights[theirs_of[key]].shape)} in the file "
                     f"but {tuple(own[key].shape)} here")
    return f"{path} does not fit {name}: " + "; ".join(parts)
