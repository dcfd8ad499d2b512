"""The zoo against torchvision: figures and state_dict keys, network by network.

tests/fixtures/torchvision.json.gz holds what torchvision 0.29.1 (with torch 2.14.1) builds
for each network: params, buffers, conv+linear MACs at batch 1 (FlopCounterMode's total / 2)
and every state_dict key with its shape (make_torchvision_fixture.py wrote it, in a separate
virtual environment); tests/fixtures/graphs.json.gz the same for its segmentation models
(make_graph_fixture.py). Every zoo entry with a `torchvision:` section must equal its network
exactly, its keys mapped through the section's `keys` renames (only where a spec cannot name
a module as torchvision does). (test_model.py verifies every zoo network against its torch
model; test_training_memory.py its training memory.)
"""

from __future__ import annotations

import gzip
import json
from functools import cache

import pytest
from conftest import TESTS

import cnncli
from cnncli.spec.load import load
from cnncli.spec.zoo import zoo_entries

FIXTURE = TESTS / "fixtures" / "torchvision.json.gz"
GRAPHS = TESTS / "fixtures" / "graphs.json.gz"

# Every zoo network that mirrors a torchvision model: zoo name -> torchvision name.
REQUIRED = {
    "alexnet_tv": "alexnet", "googlenet_tv": "googlenet", "inception_v3": "inception_v3",
    **{f"vgg{d}{bn}": f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    **{f"resnet{d}": f"resnet{d}" for d in (18, 34, 50, 101, 152)},
    "resnext50_32x4d": "resnext50_32x4d", "wide_resnet50_2": "wide_resnet50_2",
    "mobilenet_v2": "mobilenet_v2", "mobilenet_v3_large": "mobilenet_v3_large",
    "mobilenet_v3_small": "mobilenet_v3_small", "squeezenet1_0": "squeezenet1_0",
    "squeezenet1_1": "squeezenet1_1", "densenet121": "densenet121",
    "efficientnet_b0": "efficientnet_b0", "shufflenet_v2_x1_0": "shufflenet_v2_x1_0",
    "convnext_tiny": "convnext_tiny",
    **{f"vit_{v}": f"vit_{v}" for v in ("b_16", "b_32", "l_16", "l_32", "h_14")},
    "swin_t": "swin_t", "swin_s": "swin_s", "swin_b": "swin_b", "maxvit_t": "maxvit_t",
    "fcn_resnet50": "fcn_resnet50", "deeplabv3_resnet50": "deeplabv3_resnet50",
    "deeplabv3_mobilenet_v3_large": "deeplabv3_mobilenet_v3_large",
    "lraspp_mobilenet_v3_large": "lraspp_mobilenet_v3_large",
}


@cache
def torchvision() -> dict:
    networks = json.loads(gzip.decompress(FIXTURE.read_bytes()))["networks"]
    graphs = json.loads(gzip.decompress(GRAPHS.read_bytes()))["networks"]
    for name, net in graphs.items():  # its buffers leave out num_batches_tracked
        if "state_dict" in net and name not in networks:
            networks[name] = {"params": net["params"], "macs": net["macs"],
                              "buffers": net["buffers"] + net["int_buffers"],
                              "input": net["input"], "keys": dict(net["state_dict"]),
                              "file_only_keys": []}  # no aux head in the file either
    return networks


def mirrors() -> dict[str, str]:
    """Zoo name -> the torchvision network its spec says it mirrors."""
    out = {}
    for name in sorted(zoo_entries()):
        network = load(name)
        if network.torchvision is not None:
            out[name] = network.torchvision.model
    return out


MIRRORS = mirrors()


def test_every_required_network_mirrors_torchvision() -> None:
    missing = {name: model for name, model in REQUIRED.items() if MIRRORS.get(name) != model}
    assert not missing, f"zoo entries missing or mirroring another network: {missing}"


@pytest.mark.parametrize("name", sorted(MIRRORS))
def test_figures_equal_torchvision(name: str) -> None:
    theirs = torchvision()[MIRRORS[name]]
    a = cnncli.analyze(name, input=tuple(theirs["input"]))
    totals = a.totals()
    ours = {"params": totals["params"], "macs": totals["macs"], "buffers": totals["buffers"]}
    assert ours == {k: theirs[k] for k in ours}


@pytest.mark.parametrize("name", sorted(MIRRORS))
def test_state_dict_keys_equal_torchvision(name: str) -> None:
    network = load(name)
    spec = network.torchvision
    model = cnncli.build(network, device="meta")
    ours = {spec.their_key(k): list(v.shape) for k, v in model.state_dict().items()}
    theirs = torchvision()[spec.model]
    assert ours == theirs["keys"]
    assert all(not spec.built_here(k) for k in theirs["file_only_keys"])


@pytest.mark.slow
def test_list_says_which_networks_have_weights(cli) -> None:
    code, out, _ = cli("list", "-f", "json")
    assert code == 0
    nets = {n["name"]: n for n in json.loads(out)["networks"]}
    assert nets["resnet50"]["weights"] == \
        "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"
    assert nets["alexnet_tv"]["torchvision"] == "alexnet"
    assert nets["lenet5"]["torchvision"] is None and nets["googlenet"]["weights"] is None
    assert {n for n, v in nets.items() if v["torchvision"]} == set(MIRRORS)
    code, out, _ = cli("list")
    row = next(line for line in out.splitlines() if line.startswith(" mobilenet_v2 "))
    assert " torchvision " in row
