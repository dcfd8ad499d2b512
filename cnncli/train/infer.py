"""`cnncli eval` and `cnncli predict`: a trained checkpoint, or a spec with --weights.

With torchvision's weights, prediction preprocesses as torchvision does for them (resize
the shorter side, centre crop, the weights' mean and std) and names ImageNet's classes;
evaluation normalises with the weights' mean and std.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import torch

from ..analysis.analyze import analyze_network
from ..errors import UsageError
from ..model import checkpoint
from ..spec.ir import Network
from ..spec.pretrained import Torchvision
from .loop import evaluate_split
from .recipe import resolve


@cache
def imagenet_classes() -> list[str]:
    text = resources.files("cnncli.train").joinpath("imagenet_classes.txt").read_text("utf-8")
    return text.splitlines()


def preprocessing(network: Network) -> Torchvision:
    """The network's torchvision preprocessing, or ImageNet's scaled to its input size."""
    if network.torchvision is not None:
        return network.torchvision
    crop = network.input[-1]
    return Torchvision(model=network.name, crop=crop, resize=round(crop * 256 / 224))


def _pretrained(spec: str, weights: str, overrides: dict[str, str],
                input_shape: str | None) -> tuple[Any, Network]:
    from ..model.build import build_from_analysis
    from ..model.pretrained import load_pretrained
    from ..spec.load import load

    network = load(spec, overrides, input_shape)
    model = build_from_analysis(analyze_network(network), init="torch")
    load_pretrained(model, network, weights, new_head=False)
    return model.eval(), network


def _trained(path: str) -> tuple[Any, Network, dict[str, Any]]:
    """A checkpoint's model (in eval mode), its network and the checkpoint itself."""
    state = checkpoint.load(path)
    model, network = checkpoint.model_from(state, path)
    return model.eval(), network, state


def class_names(network: Network, weights: str, count: int) -> list[str]:
    from ..model.pretrained import TORCHVISION

    if weights.lower() in TORCHVISION and count == 1000:
        return imagenet_classes()
    return [f"class {i}" for i in range(count)]


# -- eval --------------------------------------------------------------------------------

def run_eval(path: str, data_name: str | None, data_dir: str | None, split: str,
             batch_size: int, weights: str | None = None,
             overrides: dict[str, str] | None = None) -> dict[str, Any]:
    from .data import load_data

    if weights is None:
        model, network, state = _trained(path)
        record, saved = state["data"], state["options"]
    else:
        if data_name is None:
            raise UsageError("eval --weights needs --data (and --data-dir for an imagefolder)")
        model, network = _pretrained(path, weights, overrides or {}, None)
        tv = preprocessing(network)
        record = {"name": data_name, "mean": list(tv.mean), "std": list(tv.std),
                  "fit": "resize"}
        saved = {}
    data_dir = data_dir or saved.get("data_dir")  # where training found the data
    options = resolve(None, {"data": data_name or record.get("name"), "data_dir": data_dir,
                             "fit": record.get("fit"), "seed": saved.get("seed", 0),
                             "val_split": saved.get("val_split")})
    data = load_data(network, options, torch.device("cpu"), record)
    classes = record.get("classes") or data.classes
    target = data.val if split == "test" else data.train
    if target is None:
        raise UsageError(f"{data.name} has no {split} split here")
    n = len(classes)
    confusion = torch.zeros(n, n, dtype=torch.long)
    with torch.no_grad():
        loss, correct, seen = evaluate_split(model, target, data, torch.device("cpu"),
                                             batch_size, confusion=confusion)
    counts = confusion.sum(1)
    per_class = [(confusion[i, i].item() / counts[i].item()) if counts[i] else None
                 for i in range(n)]
    return {"checkpoint": path, "spec": network.name, "dataset": data.name,
            "weights": weights, "split": data.val_source if split == "test" else "train",
            "count": int(seen), "loss": loss / max(seen, 1), "accuracy": correct / max(seen, 1),
            "classes": classes, "per_class_accuracy": per_class,
            "per_class_count": counts.tolist(), "confusion": confusion.tolist()}


# -- predict -----------------------------------------------------------------------------

def run_predict(path: str, files: list[str], top: int, weights: str | None = None,
                overrides: dict[str, str] | None = None) -> list[dict[str, Any]]:
    from . import datasets
    from .loop import prepare

    if weights is None:
        model, network, state = _trained(path)
        record = state["data"]
        names = record["classes"]

        def read(file: str) -> torch.Tensor:
            image = datasets.read_image(file, tuple(network.input), record.get("fit"))
            return prepare(image[None], record["mean"], record["std"])
    else:
        model, network = _pretrained(path, weights, overrides or {}, None)
        tv = preprocessing(network)
        names = class_names(network, weights, int(analyze_network(network).output[0]))

        def read(file: str) -> torch.Tensor:
            return torchvision_input(file, tv, network.input[0])
    results = []
    for file in files:
        with torch.no_grad():
            probs = torch.softmax(model(read(file)).float(), dim=1)[0]
        values, indices = probs.topk(min(top, len(probs)))
        results.append({"file": file, "top": [
            {"class": names[i], "index": i, "probability": round(v, 6)}
            for v, i in zip(values.tolist(), indices.tolist())]})
    return results


def torchvision_input(file: str, tv: Torchvision, channels: int) -> torch.Tensor:
    """torchvision's eval transform for its ImageNet weights: resize the shorter side to
    `resize`, centre crop `crop`, scale to [0, 1], normalise with the weights' mean and std."""
    from .datasets.imagefolder import _pillow

    if channels != 3:
        raise UsageError(f"torchvision's preprocessing is for colour images; this network "
                         f"takes {channels} channel(s)")
    image_mod = _pillow()
    resample = {"bilinear": image_mod.Resampling.BILINEAR,
                "bicubic": image_mod.Resampling.BICUBIC,
                "nearest": image_mod.Resampling.NEAREST}[tv.interpolation]
    try:
        with image_mod.open(file) as opened:
            image = opened.convert("RGB")
    except FileNotFoundError:
        raise UsageError(f"{file}: no such image file") from None
    except (OSError, ValueError, SyntaxError, image_mod.DecompressionBombError) as exc:
        raise UsageError(f"{file}: cannot read the image ({exc})") from None
    w, h = image.size
    short, long = (w, h) if w <= h else (h, w)
    size = (tv.resize, int(tv.resize * long / short))
    image = image.resize(size if w <= h else size[::-1], resample)
    w, h = image.size
    if w < tv.crop or h < tv.crop:
        raise UsageError(f"{file}: {w}x{h} after resizing is smaller than the crop {tv.crop}")
    top, left = int(round((h - tv.crop) / 2.0)), int(round((w - tv.crop) / 2.0))
    image = image.crop((left, top, left + tv.crop, top + tv.crop))
    pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    x = pixels.view(tv.crop, tv.crop, 3).permute(2, 0, 1).float().div(255)
    mean = torch.tensor(tv.mean)[:, None, None]
    std = torch.tensor(tv.std)[:, None, None]
    return ((x - mean) / std)[None]
