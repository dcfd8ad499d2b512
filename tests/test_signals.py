"""Decisions read typed values, and each constant has one home: no click.Choice repeats a
literal list, one shape formatter, checkpoint problems and recipe options are typed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cnncli.layers import shape_text
from cnncli.spec.recipe import OPTIONS, TrainOptions, check_option

PACKAGE = Path(__file__).resolve().parent.parent / "cnncli"


def _choice_literals(source: str) -> list[int]:
    """Lines where click.Choice gets a string written out instead of a name it imports."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "Choice" \
                and any(isinstance(c, ast.Constant) and isinstance(c.value, str)
                        for arg in node.args for c in ast.walk(arg)):
            lines.append(node.lineno)
    return lines


def test_no_command_writes_out_a_choice_list() -> None:
    found = {p.name: _choice_literals(p.read_text())
             for p in (PACKAGE / "commands").glob("*.py")}
    assert {name: lines for name, lines in found.items() if lines} == {}


def test_the_choice_check_sees_a_literal() -> None:
    assert _choice_literals('click.Choice(["a", "b"])\nclick.Choice([*X, "none"])\n') == [1, 2]
    assert _choice_literals("click.Choice(FORMATS)\nclick.Choice(sorted(SPLITS))\n") == []


def test_one_shape_formatter() -> None:
    writers = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if "join(map(str" in p.read_text()]
    assert writers == ["layers/base.py"]
    assert shape_text((3, 224, 224)) == "3x224x224"
    assert shape_text([10]) == "10"


def test_every_training_option_declares_its_type() -> None:
    assert list(OPTIONS) == list(TrainOptions.__annotations__)  # one Option a field
    assert OPTIONS["seed"].kind is int and OPTIONS["seed"].low == 0
    assert OPTIONS["fit"].choices == ("pad", "resize", "crop")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("epochs", 0, "epochs must be at least 1, got 0"),
    ("workers", -1, "workers must be at least 0, got -1"),
    ("early_stop", 2.5, "early_stop must be a whole number, got 2.5"),
    ("momentum", 1.0, "momentum must be below 1, got 1.0"),
    ("lr", 0, "lr must be above 0"),
    ("val_split", 0, "val_split must be above 0"),
    ("warmup", -1, "warmup must be a number >= 0, got -1"),
    ("amp", "yes", "amp must be true or false, got 'yes'"),
    ("schedule", "cos", "schedule must be one of none, step, cosine, onecycle, got 'cos'"),
    ("data", 3, "data must be text, got 3"),
])
def test_options_are_checked_from_their_metadata(name: str, value: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        check_option(name, value)
    assert str(caught.value).startswith(message)


def test_checked_values_keep_their_types() -> None:
    assert check_option("lr", 1) == 1.0 and isinstance(check_option("lr", 1), float)
    assert check_option("clip_grad", None) is None
    assert check_option("augment", "crop, none,flip") == ("crop", "flip")
    assert check_option("freeze", "backbone") == ("backbone",)


def test_checkpoint_problems_are_typed(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from cnncli.model import checkpoint

    plain = tmp_path / "plain.pth"
    torch.save({"w": torch.zeros(2)}, plain)
    with pytest.raises(checkpoint.NotACheckpoint):
        checkpoint.load(plain)
    other = checkpoint.mismatch({"w": torch.zeros(2)}, {"v": torch.zeros(2)})
    assert other is not None and other.foreign
    assert str(other).startswith("made for another network: 1 weights missing")
    shape = checkpoint.mismatch({"w": torch.zeros(2)}, {"w": torch.zeros(3)})
    assert shape is not None and shape.foreign
    malformed = checkpoint.mismatch({"w": torch.zeros(2)}, [1])
    assert malformed is not None and not malformed.foreign
    model = torch.nn.Linear(2, 1)
    with pytest.raises(checkpoint.UsageError, match=r"^x.pth was made for another shape"):
        checkpoint.load_weights(model, {"weight": torch.zeros(1, 3), "bias": torch.zeros(1)},
                                "x.pth")
    with pytest.raises(checkpoint.UsageError, match=r"^x.pth: the model weights are malformed"):
        checkpoint.load_weights(model, [1], "x.pth")


def test_datasets_say_what_they_are() -> None:
    pytest.importorskip("torch")
    from cnncli.train import data, datasets

    known = ("mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100", "mnist-sample",
             "synthetic", "shapes", "imagefolder", "segfolder")
    assert known == data.DATASETS
    assert known[:-2] == datasets.NAMES
    assert [k for k, v in datasets.KINDS.items() if v.family == "mnist"] == [
        "mnist", "fashion-mnist", "kmnist", "mnist-sample"]
    assert datasets.KINDS["imagefolder"].folder and datasets.KINDS["synthetic"].generated
    assert datasets.KINDS["mnist"].stand_in == datasets.SAMPLE
    assert [k for k, v in datasets.KINDS.items() if v.downloadable] == list(datasets.SOURCES)
    assert datasets.kind_of(None) is None and datasets.kind_of("imagenet") is None


@pytest.mark.parametrize(("name", "head"), [("resnet18", "fc"),
                                            ("mobilenet_v3_small", "classifier.3")])
def test_one_classifier_for_fine_tuning_and_freezing(name: str, head: str) -> None:
    pytest.importorskip("torch")
    from cnncli.analysis.analyze import analyze
    from cnncli.model.build import build_from_analysis
    from cnncli.model.pretrained import head_keys
    from cnncli.spec.freeze import classifier, freeze, layers

    network = analyze(name).network
    assert classifier(network).path == head
    model = build_from_analysis(analyze(network), device="meta")
    assert head_keys(model, network) == [f"{head}.weight", f"{head}.bias"]
    freeze(network, ["backbone"])
    assert [n.path for n in layers(network.root) if not n.frozen] == [head]
