"""Graph networks of the zoo against the references they are written after.

tests/fixtures/graphs.json.gz holds what torch 2.14.1, torchvision 0.29.1 and ultralytics
build (make_graph_fixture.py, in a separate virtual environment): params, buffers, MACs
(FlopCounterMode / 2), the outputs, every state_dict key with its shape and each module's
output shape. (The torchvision segmentation models are checked with the other torchvision
mirrors in test_torchvision_zoo.py.)
"""

from __future__ import annotations

import gzip
import json
from functools import cache

import pytest
from conftest import TESTS

import cnncli

GRAPHS = TESTS / "fixtures" / "graphs.json.gz"
#: zoo name -> the reference network of the fixture
WRITTEN_AFTER = {"unet": "unet", "unet_paper": "unet_paper", "fcn_resnet50": "fcn_resnet50",
                 "deeplabv3_resnet50": "deeplabv3_resnet50",
                 "deeplabv3_mobilenet_v3_large": "deeplabv3_mobilenet_v3_large",
                 "lraspp_mobilenet_v3_large": "lraspp_mobilenet_v3_large"}


@cache
def reference(name: str) -> dict:
    return json.loads(gzip.decompress(GRAPHS.read_bytes()))["networks"][name]


@pytest.mark.parametrize("name", sorted(WRITTEN_AFTER))
def test_figures_equal_the_reference(name: str) -> None:
    theirs = reference(WRITTEN_AFTER[name])
    a = cnncli.analyze(name, input=tuple(theirs["input"]))
    t = a.totals()
    assert (t["params"], t["buffers"], t["macs"], [list(a.output)]) == \
        (theirs["params"], theirs["buffers"] + theirs["int_buffers"], theirs["macs"],
         theirs["output"])


# (ResNet's bottleneck calls one ReLU three times, so its per-call rows have no path of ours)
@pytest.mark.parametrize("name", ["unet", "unet_paper", "deeplabv3_mobilenet_v3_large",
                                  "lraspp_mobilenet_v3_large"])
def test_keys_and_every_modules_output_equal_the_reference(name: str) -> None:
    theirs = reference(WRITTEN_AFTER[name])
    model = cnncli.build(name, device="meta")
    assert [[k, list(v.shape)] for k, v in model.state_dict().items()] == theirs["state_dict"]
    rows = {r.path: r for r in cnncli.analyze(name).root.walk() if r.is_layer}
    shapes = {path: list(rows[path].output) for path, _, _ in theirs["modules"]}
    assert shapes == {path: shape for path, _, shape in theirs["modules"]}
    assert sum(rows[p].macs for p in theirs["leaf_macs"]) == theirs["leaf_macs_total"]
    assert {p: rows[p].macs for p in theirs["leaf_macs"]} == theirs["leaf_macs"]
