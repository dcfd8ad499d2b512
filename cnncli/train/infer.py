"""`cnncli eval` and `cnncli predict`: a trained checkpoint, or a spec with --weights.

With torchvision's weights, prediction preprocesses as torchvision does for them (resize
the shorter side, centre crop, the weights' mean and std) and names ImageNet's classes;
evaluation normalises with the weights' mean and std.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ..analysis.analyze import analyze_network
from ..errors import UsageError
from ..model import checkpoint, rebuild
from ..model.build import build_from_analysis
from ..model.pretrained import TORCHVISION, load_pretrained
from ..spec.ir import Network
from ..spec.load import load
from ..spec.locate import find_quietly
from ..spec.pretrained import Torchvision
from ..spec.zoo import suggest
from . import datasets
from .batches import evaluate_split, prepare
from .data import load_data, note
from .datasets.fit import image_shape
from .datasets.imagefolder import _pillow
from .recipe import resolve
from .seginfer import eval_result, predict_masks
from .task import Task, head_of


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
    network = load(spec, overrides, input_shape)
    model = build_from_analysis(analyze_network(network), init="torch")
    load_pretrained(model, network, weights, new_head=False)
    return model.eval(), network


RUNS = Path("runs")  # where `cnncli train` puts run folders: runs/<network name>


def find_checkpoint(ref: str) -> str:
    """The checkpoint REF stands for: a checkpoint file; a run folder's best.pt (else its
    last.pt); or, for a spec file or zoo name, that of the newest run of its network under
    ./runs. The choice is said in a note; a missing one says where it looked."""
    path = Path(ref)
    if path.is_file() and path.suffix not in (".yaml", ".yml"):
        return ref
    if path.is_dir():
        chosen = _checkpoint_in(path)
        if chosen is None:
            raise UsageError(f"{ref} holds no best.pt or last.pt, so it is not a run folder "
                             f"(`cnncli train SPEC` writes {RUNS}/<spec name>/best.pt)")
        note(f"using {chosen} ({_which(chosen)})")
        return str(chosen)
    name, train_word, known = _network_name(ref)
    found = sorted(((c.stat().st_mtime, str(c)) for d in _run_folders(name)
                    if (c := _checkpoint_in(d)) is not None), reverse=True)
    if found:
        chosen = Path(found[0][1])
        note(f"using {chosen} ({_which(chosen)} of {name}'s newest run)")
        return str(chosen)
    if path.suffix in (".pt", ".pth") or ("/" in ref and name == ref):
        raise UsageError(f"no checkpoint file or run folder {ref}; `cnncli train SPEC` "
                         f"writes {RUNS}/<spec name>/best.pt and last.pt")
    if not known:  # neither a spec file nor a zoo name

        raise UsageError(f"no checkpoint, run folder, spec file or zoo network named {ref!r}"
                         f"{suggest(ref)}, and no {RUNS / ref}/ here")
    raise UsageError(f"no run of {name} here: looked for a file {ref!r} and for "
                     f"{RUNS / name}/best.pt or last.pt (or a run of {name} in another "
                     f"folder of {RUNS}/); train it first: cnncli train {train_word}")


def _checkpoint_in(folder: Path) -> Path | None:
    """A run folder's best checkpoint, else its last, else None."""
    return next((p for p in (folder / "best.pt", folder / "last.pt") if p.is_file()), None)


def _which(chosen: Path) -> str:
    return "best epoch" if chosen.name == "best.pt" else "last epoch; no best.pt"


def _network_name(ref: str) -> tuple[str, str, bool]:
    """(the network REF names, how to name it to `cnncli train`, whether it names one): a
    spec file's network, a zoo name's canonical name (the alias lenet gives lenet5), or REF
    itself (a run folder's name under ./runs, perhaps)."""
    if Path(ref).is_file():
        return load(ref).name, ref, True
    entry = find_quietly(ref)
    return (entry.name, entry.name, True) if entry is not None else (ref, ref, False)


def _run_folders(name: str) -> list[Path]:
    """Folders under ./runs holding a run of the network `name`: runs/<name>, and any other
    whose run.json names it (--out runs/lenet5-bs8)."""
    if not RUNS.is_dir():
        return []
    return [d for d in RUNS.iterdir() if d.is_dir() and (d.name == name or _run_name(d) == name)]


def _run_name(folder: Path) -> str | None:
    try:
        run = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError):
        return None
    return run.get("name") if isinstance(run, dict) else None


def _trained(path: str) -> tuple[Any, Network, dict[str, Any]]:
    """A checkpoint's model (in eval mode), its network and the checkpoint itself."""
    state = checkpoint.load(path)
    model, network = rebuild.model_from(state, path)
    return model.eval(), network, state


def class_names(network: Network, weights: str, count: int) -> list[str]:
    if weights.lower() in TORCHVISION and count == 1000:
        return imagenet_classes()
    return [f"class {i}" for i in range(count)]


# -- eval --------------------------------------------------------------------------------

def run_eval(path: str, data_name: str | None, data_dir: str | None, split: str,
             batch_size: int, weights: str | None = None,
             overrides: dict[str, str] | None = None) -> dict[str, Any]:
    if weights is None:
        path = find_checkpoint(path)
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
    kind = datasets.kind_of(data.name)
    if target is None and kind is not None and kind.folder:
        raise UsageError(f"{data_dir} has no held-out images (no val/ or test/ folder, and "
                         "the run held none out): evaluate on the training images with --split "
                         "train, or train again with --val-split 0.2 to hold some out")
    if target is None:
        raise UsageError(f"{data.name} has no {split} split here; try --split train")
    n = len(classes)
    confusion = torch.zeros(n, n, dtype=torch.long)
    with torch.no_grad():
        loss, correct, seen = evaluate_split(model, target, data, torch.device("cpu"),
                                             batch_size, confusion=confusion)
    if data.task is Task.SEGMENTATION:
        return {"checkpoint": path, "spec": network.name, "dataset": data.name,
                "weights": weights, "split": data.val_source if split == "test" else "train",
                "count": len(target), "classes": classes,
                **eval_result(confusion, loss, seen)}
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
                overrides: dict[str, str] | None = None, fit: str | None = None,
                invert: bool = False, force: bool = False) -> list[dict[str, Any]]:
    """Top classes per image; for a segmentation network, a mask PNG beside each image
    (refused where one exists, unless `force`) and each class's share of the pixels."""
    if weights is None:
        path = find_checkpoint(path)
        model, network, state = _trained(path)
        record = state["data"]
        if head_of(network).segmentation:
            return predict_masks(model, network, record, files, fit, force)
        names = record["classes"]

        def read(file: str) -> torch.Tensor:
            image = predict_image(file, network, record, fit, invert)
            return prepare(image[None], record["mean"], record["std"])
    else:
        if fit is not None or invert:
            raise UsageError("--fit and --invert apply to a trained checkpoint; with --weights "
                             "the images are preprocessed as torchvision does for them")
        model, network = _pretrained(path, weights, overrides or {}, None)
        tv = preprocessing(network)
        head = head_of(network)
        if head.segmentation:  # the image resized to the input, with the weights' statistics
            return predict_masks(model, network, {
                "classes": [f"class {i}" for i in range(head.classes)], "mean": list(tv.mean),
                "std": list(tv.std)}, files, None, force)
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


def predict_image(file: str, network: Network, record: dict[str, Any], fit: str | None,
                  invert: bool) -> torch.Tensor:
    """An image file as uint8 (C, H, W) fitted to the network's input: with --fit, else as
    the training data was fitted (resize when it needed none)."""
    c, h, w = image_shape(tuple(network.input))
    if not Path(file).is_file():
        raise UsageError(f"{file}: no such image file")
    image = datasets.read_npy(file, c) if file.endswith(".npy") \
        else datasets.decode_image(file, None, c)
    if invert:
        image = 255 - image
    mode = fit or record.get("fit") or "resize"
    ih, iw = image.shape[-2:]
    if (mode == "pad" and (ih > h or iw > w)) or (mode == "crop" and (ih < h or iw < w)):
        how = f"--fit {mode}" if fit else f"--fit {mode} (as in training)"
        can = "shrink" if mode == "pad" else "enlarge"
        other = "resize (or crop)" if mode == "pad" else "resize (or pad)"
        raise UsageError(f"{file}: the image is {iw}x{ih} but {network.name} takes {w}x{h}, "
                         f"and {how} cannot {can} it; pass --fit {other}")
    hint = polarity_hint(image, record)
    if hint:
        note(f"{file} {hint}")
    return datasets.fit_images(image[None], (c, h, w), mode)[0]


def polarity_hint(image: torch.Tensor, record: dict[str, Any]) -> str | None:
    """'is dark on light, ...' when an image's brightness is the opposite of the training
    data's (MNIST is white digits on black), else None."""
    trained = sum(record["mean"]) / len(record["mean"])
    seen = image.float().mean().item() / 255
    if abs(trained - 0.5) < 0.2 or abs(seen - 0.5) < 0.15 or (trained < 0.5) == (seen < 0.5):
        return None
    looks = "dark on light" if trained < 0.5 else "light on dark"
    kind = datasets.kind_of(record.get("name"))
    mnist = " (MNIST: white on black)" if kind is not None and kind.family == "mnist" else ""
    return f"is {looks}, the opposite of the training images{mnist}; try --invert"


def torchvision_input(file: str, tv: Torchvision, channels: int) -> torch.Tensor:
    """torchvision's eval transform for its ImageNet weights: resize the shorter side to
    `resize`, centre crop `crop`, scale to [0, 1], normalise with the weights' mean and std."""
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
