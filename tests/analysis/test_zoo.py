"""Golden figures: every zoo network's parameters and conv/linear MACs, from papers and
torchvision (batch 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from zoo_figures import GOLDEN, RESNET_STRIDE_IN_1X1

import cnncli
from cnncli.spec.zoo import zoo_entries


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_zoo_figures(name: str) -> None:
    params, macs, shape = GOLDEN[name]
    totals = cnncli.analyze(name).totals()
    assert totals["params"] == params
    assert totals["macs"] == macs
    assert totals["flops"] == 2 * macs
    assert cnncli.analyze(name).input == shape


@pytest.mark.parametrize("name", sorted(RESNET_STRIDE_IN_1X1))
def test_resnet_stride_on_first_1x1(name: str) -> None:
    default = cnncli.analyze(name).totals()
    paper = cnncli.analyze(name, overrides={"stride_in_1x1": "true"}).totals()
    assert paper["macs"] == RESNET_STRIDE_IN_1X1[name]
    assert paper["params"] == default["params"] == GOLDEN[name][0]


def test_resnet_description_names_the_default_layout() -> None:
    net = cnncli.load("resnet50")
    assert "stride on the 3x3 (torchvision)" in net.description
    assert "--set stride_in_1x1=true" in Path(net.source).read_text()


def test_inception_bottleneck_example() -> None:
    """GoogLeNet's 1x1 argument: 5x5 to 48 channels on 480x14x14, with and without a
    1x1 reduction to 16 channels."""
    a = cnncli.analyze("inception_bottleneck")
    rows = {r.path: r for r in a.root.walk()}
    assert a.input == (480, 14, 14)
    assert rows["compare.direct"].macs == 112_896_000
    assert rows["compare.reduced"].macs == 5_268_480
    assert rows["compare.reduced.reduce1x1"].macs == 1_505_280


def test_vgg_bn_buffers_and_params() -> None:
    """BatchNorm adds 2 params per channel and 2C+1 buffers (running mean/var, count)."""
    plain, bn = cnncli.analyze("vgg16").totals(), cnncli.analyze("vgg16_bn").totals()
    channels = 2 * 64 + 2 * 128 + 3 * 256 + 6 * 512
    assert bn["params"] - plain["params"] == 2 * channels
    assert bn["buffers"] == 2 * channels + 13  # 13 BatchNorm layers


def test_every_zoo_entry_analyses_and_lists() -> None:
    names = set(zoo_entries())
    assert set(GOLDEN) | {"inception_bottleneck"} <= names
    for name in names:
        assert cnncli.analyze(name).totals()["params"] > 0


def test_set_classes_changes_only_the_head() -> None:
    base = cnncli.analyze("resnet18").totals()
    ten = cnncli.analyze("resnet18", overrides={"classes": 10}).totals()
    assert base["params"] - ten["params"] == 990 * 512 + 990


def test_input_override_changes_shapes() -> None:
    a = cnncli.analyze("alexnet", input="3x227x227", batch=32)
    assert a.totals()["macs"] == 32 * 724_406_816
    b = cnncli.analyze("resnet50", input="3x448x448")
    assert b.totals()["params"] == 25_557_032
    conv1 = next(r for r in b.root.walk() if r.path == "conv1")
    assert conv1.output == (64, 224, 224)


# LeNet-5 as the paper builds it (LeCun et al., 1998, Section II.B):
# layer: (output, trainable params, connections)
LENET5_PAPER = {
    "c1": ((6, 28, 28), 156, 122_304),
    "s2": ((6, 14, 14), 12, 5_880),
    "c3": ((16, 10, 10), 1_516, 151_600),
    "s4": ((16, 5, 5), 32, 2_000),
    "c5": ((120, 1, 1), 48_120, 48_120),
    "f6": ((84,), 10_164, 10_164),
    "output": ((10,), 0, 840),
}


def test_lenet5_paper_reproduces_the_papers_table() -> None:
    """60,000 trainable parameters and 340,908 connections, layer by layer."""
    a = cnncli.analyze("lenet5_paper")
    rows = {r.path: r for r in a.root.walk() if r.is_layer}
    for path, (output, params, connections) in LENET5_PAPER.items():
        assert (rows[path].output, rows[path].trainable, rows[path].connections) == \
            (output, params, connections), path
    others = [r for p, r in rows.items() if p not in LENET5_PAPER]
    assert {r.kind for r in others} == {"scaled_tanh", "flatten"}
    assert all(r.params == r.connections == 0 for r in others)
    totals = a.totals()
    assert totals["trainable_params"] == totals["params"] == 60_000
    assert totals["connections"] == 340_908
    assert totals["buffers"] == 840  # the fixed prototypes: 10 x 84, not trained
    # MACs count only the connected kernels: C3 reads 60 of the 96 map pairs.
    assert rows["c3"].macs == 100 * 60 * 25


def test_connections_of_the_modern_lenet5() -> None:
    """The same rule on the dense variant: C3 reads all six maps, pooling has no bias."""
    rows = {r.path: r for r in cnncli.analyze("lenet5").root.walk() if r.is_layer}
    assert rows["c3"].connections == 16 * 100 * (6 * 25 + 1)
    assert rows["s2"].connections == 6 * 14 * 14 * 4
    assert rows["output"].connections == 10 * 85
