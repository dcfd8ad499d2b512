"""Fine-tuning a pretrained network on one's own images, and using pretrained weights:
the classifier replaced for the data's classes, --freeze and --lr-backbone doing what they
say to the weights, predict with torchvision's preprocessing and ImageNet's class names,
eval of a spec with --weights, and the run folder's record of the weights."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TESTS
from synthetic_weights import synthetic_state_dict

import cnncli
from cnncli.model import checkpoint
from cnncli.spec.pretrained import Torchvision
from cnncli.train.infer import imagenet_classes, torchvision_input

FIXTURES = TESTS / "fixtures"

image_module = pytest.importorskip("PIL.Image")


def resnet18_weights(folder: Path, name: str = "resnet18-f37072fd.pth") -> Path:
    data = json.loads(gzip.decompress((FIXTURES / "torchvision.json.gz").read_bytes()))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    torch.save(synthetic_state_dict(data["networks"]["resnet18"]["keys"]), path)
    return path


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for label, colour in (("cat", 0), ("dog", 2)):
        (root / label).mkdir(parents=True)
        for i in range(8):
            pixels = rng.integers(0, 60, (36, 40, 3), dtype=np.uint8)
            pixels[..., colour] += 180
            image_module.fromarray(pixels).save(root / label / f"{i}.png")
    return root


def train(cli, photos: Path, out: Path, *extra: str) -> tuple[str, str]:
    code, stdout, err = cli("train", "resnet18", "--input", "3x32x32", "--data", "imagefolder",
                            "--data-dir", str(photos), "--fit", "resize", "--epochs", "1",
                            "--batch-size", "8", "--lr", "0.05", "--out", str(out),
                            "--device", "cpu", *extra)
    assert code == 0, err
    return stdout, err


@pytest.mark.slow
def test_fine_tune_replaces_the_classifier_and_freezes_the_backbone(tmp_path, cli,
                                                                      photos) -> None:
    weights = resnet18_weights(tmp_path / "w")
    out = tmp_path / "run"
    stdout, err = train(cli, photos, out, "--weights", str(weights), "--freeze", "backbone")
    assert "note: classes=2 from the image folder" in err
    assert ("weights: 120 tensors from " + str(weights) + "; the classifier fc is new: 1000 "
            "classes in the weights, 2 here, so it starts fresh") in stdout
    assert "frozen: 11,176,512 parameters (backbone)" in stdout
    trained = checkpoint.load(out / "last.pt")["model"]
    start = torch.load(weights, weights_only=True)
    for key in ("conv1.weight", "layer4.1.conv2.weight", "layer2.0.downsample.0.weight"):
        assert torch.equal(trained[key], start[key]), key  # frozen: unchanged
    assert trained["fc.weight"].shape == (2, 512)
    run = json.loads((out / "run.json").read_text())
    assert run["weights"] == {"source": str(weights), "file": str(weights), "url": None,
                              "tensors": 120, "fresh": ["fc.weight", "fc.bias"]}
    assert run["options"]["freeze"] == ["backbone"]
    # normalised as the weights expect (ImageNet's statistics), not with the photos' own
    assert run["data"]["mean"] == [0.485, 0.456, 0.406]
    assert run["data"]["std"] == [0.229, 0.224, 0.225]


@pytest.mark.slow
def test_lr_backbone_moves_the_backbone_less(tmp_path, cli, photos) -> None:
    weights = resnet18_weights(tmp_path / "w")
    out = tmp_path / "run"
    stdout, _ = train(cli, photos, out, "--weights", str(weights), "--lr-backbone", "1e-9",
                      "--momentum", "0")
    assert "frozen" not in stdout
    trained = checkpoint.load(out / "last.pt")["model"]
    start = torch.load(weights, weights_only=True)
    moved = (trained["layer1.0.conv1.weight"] - start["layer1.0.conv1.weight"]).abs().max()
    assert 0 < moved < 1e-6  # trained, at a billionth of the head's rate
    assert not torch.equal(trained["fc.bias"], torch.zeros(2))


@pytest.mark.slow
def test_torchvision_weights_from_the_cache_and_imagenet_names(tmp_path, cli,
                                                               monkeypatch) -> None:
    """A weights file already in the cache is used (no network) once its hash is checked,
    and predict shows ImageNet's class names for it. The synthetic file is not torchvision's
    resnet18-f37072fd.pth, so under that name it is refused; a spec whose file name carries
    its own hash takes it."""
    monkeypatch.setenv("CNNCLI_WEIGHTS", str(tmp_path / "cache"))
    monkeypatch.setenv("CNNCLI_WEIGHTS_URL", "http://127.0.0.1:9/")  # would fail if used
    path = resnet18_weights(tmp_path / "cache")
    photo = str(FIXTURES / "photo.png")
    code, _, err = cli("predict", "resnet18", photo, "--weights", "torchvision")
    assert code == 2 and err.startswith(f"error: {path}: its SHA-256 checksum is "), err
    own = f"resnet18-{hashlib.sha256(path.read_bytes()).hexdigest()[:8]}.pth"
    path = path.rename(path.with_name(own))
    spec = tmp_path / "resnet18.yaml"
    assert cli("spec", "resnet18", "-o", str(spec))[0] == 0
    spec.write_text(spec.read_text().replace("resnet18-f37072fd.pth", own))
    code, out, err = cli("predict", str(spec), photo, "--weights", "torchvision", "--top", "2",
                         "-f", "json")
    assert code == 0, err
    top = json.loads(out)[0]["top"]
    model = cnncli.build("resnet18", weights=str(path)).eval()
    tv = cnncli.load("resnet18").torchvision
    with torch.no_grad():
        probs = torch.softmax(model(torchvision_input(photo, tv, 3)), 1)[0]
    best = int(probs.argmax())
    assert top[0]["index"] == best and top[0]["class"] == imagenet_classes()[best]
    assert math.isclose(top[0]["probability"], probs[best].item(), abs_tol=1e-6)
    assert len(imagenet_classes()) == 1000 and imagenet_classes()[:2] == ["tench", "goldfish"]


@pytest.mark.parametrize("model", ["resnet50", "efficientnet_b3", "inception_v3", "alexnet"])
def test_preprocessing_equals_torchvisions_transforms(model: str) -> None:
    expected = json.loads((FIXTURES / "torchvision_preprocess.json").read_text())[model]
    zoo = {"alexnet": "alexnet_tv"}.get(model, model)
    try:
        tv = cnncli.load(zoo).torchvision
    except Exception:  # a zoo entry written later: its preprocessing is its spec's
        pytest.skip(f"{zoo} is not in the zoo")
    if model == "inception_v3":  # the spec folds transform_input into mean/std: undo it
        tv = Torchvision(model=tv.model, resize=tv.resize, crop=tv.crop,
                         interpolation=tv.interpolation)
    x = torchvision_input(str(FIXTURES / "photo.png"), tv, 3)[0]
    assert list(x.shape) == expected["shape"]
    assert torch.allclose(x[:, 100, 90:100], torch.tensor(expected["first"]), atol=2e-5)
    assert torch.allclose(x.mean((1, 2)), torch.tensor(expected["channel_means"]), atol=1e-5)


def test_eval_a_spec_with_weights(tmp_path, cli, photos, write_spec) -> None:
    spec = write_spec("name: small\ninput: [3, 32, 32]\nparams: {classes: 2}\nlayers:\n"
                      "  - conv: {out: 4, kernel: 3, stride: 2, padding: 1}\n  - relu\n"
                      "  - global_avgpool\n  - flatten\n  - linear: {out: classes}\n")
    path = tmp_path / "small.pth"
    torch.save(cnncli.build(spec).state_dict(), path)
    code, out, err = cli("eval", spec, "--weights", str(path), "--data", "imagefolder",
                         "--data-dir", str(photos), "--split", "train", "-f", "json")
    assert code == 0, err
    result = json.loads(out)
    assert result["count"] == 16 and result["classes"] == ["cat", "dog"]
    assert result["weights"] == str(path)
    code, _, err = cli("eval", spec, "--weights", str(path))
    assert code == 2 and "eval --weights needs --data" in err


def test_grey_weights_are_normalised_by_the_data_not_imagenet() -> None:
    """--weights on a 1-channel network (an imported LeNet): ImageNet's three means would
    make the grey digits three channels; the data's own statistics are used instead."""
    from cnncli.train.recipe import TrainOptions
    from cnncli.train.run import _weights_stats

    options = TrainOptions(weights="lenet.pt")
    assert _weights_stats(cnncli.load("lenet5"), options) is None
    stats = _weights_stats(cnncli.load("resnet18"), options)
    assert stats == {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
