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
from conftest import TESTS, by_family

import cnncli

GRAPHS = TESTS / "fixtures" / "graphs.json.gz"
#: zoo name -> the reference network of the fixture
WRITTEN_AFTER = {"unet": "unet", "unet_paper": "unet_paper", "fcn_resnet50": "fcn_resnet50",
                 "deeplabv3_resnet50": "deeplabv3_resnet50",
                 "deeplabv3_mobilenet_v3_large": "deeplabv3_mobilenet_v3_large",
                 "lraspp_mobilenet_v3_large": "lraspp_mobilenet_v3_large",
                 "yolov8n": "yolov8n", "yolov8s": "yolov8s"}


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


@pytest.mark.parametrize("name", by_family(["yolov8n", "yolov8s"]))
def test_yolov8_keys_modules_and_the_dfl_equal_ultralytics(name: str) -> None:
    """Every state_dict key with its shape (as a mapping: Ultralytics' C2f registers cv2
    before m, our modules follow the forward, so only the order differs), each module's
    output where the paths match, each leaf's MACs, and the DFL's fixed conv: its 16
    params counted but not trained (Ultralytics: 16 fewer gradients than params)."""
    theirs = reference(name)
    model = cnncli.build(name, device="meta")
    assert {k: list(v.shape) for k, v in model.state_dict().items()} == \
        dict(theirs["state_dict"])
    a = cnncli.analyze(name)
    rows = {r.path: r for r in a.root.walk()}
    shared = [(path, shape) for path, _, shape in theirs["modules"] if path in rows]
    assert {p for p, _, _ in theirs["modules"]} - rows.keys() == {"model.22.dfl.conv"}
    assert {p: list(rows[p].output) for p, _ in shared} == dict(shared)
    leaf = dict(theirs["leaf_macs"])
    dfl = rows["model.22.dfl"]
    assert (dfl.macs, dfl.params, dfl.trainable) == (leaf.pop("model.22.dfl.conv"),
                                                     theirs["dfl"]["params"], 0)
    assert {p: rows[p].macs for p in leaf} == leaf
    assert a.totals()["trainable_params"] == theirs["ultralytics_info"]["gradients"]


def test_yolov8m_is_the_same_file_scaled() -> None:
    theirs = reference("yolov8m")
    t = cnncli.analyze("yolov8m").totals()
    assert (t["params"], t["macs"]) == (theirs["params"], theirs["macs"])


@pytest.mark.parametrize("name,params", [("yolov8l", 43_691_520), ("yolov8x", 68_229_648)])
def test_yolov8l_and_x_have_ultralytics_params(name: str, params: int) -> None:
    """The counts Ultralytics' yolov8.yaml states for its l and x scales."""
    assert cnncli.analyze(name).totals()["params"] == params
