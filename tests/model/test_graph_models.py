"""Graph specs against torch written by hand: docs/examples/fpn.yaml (a feature pyramid
written from docs/spec-language.md alone) computes what a plain torch FPN computes with the
same weights, and the analysis's figures are what FlopCounterMode counts."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from conftest import ROOT
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cnncli

FPN = str(ROOT / "docs" / "examples" / "fpn.yaml")


class PlainFPN(nn.Module):
    """Lin et al.'s top-down pathway as one would write it in torch."""

    def __init__(self, width: int = 64):
        super().__init__()
        chans = [3, 32, 64, 128, 256]
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Conv2d(i, o, 3, 2, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU())
            for i, o in zip(chans, chans[1:]))
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, 1) for c in (64, 128, 256))
        self.smooth = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        l2, l3, l4 = (lat(f) for lat, f in zip(self.lateral, feats[1:]))
        m3 = l3 + F.interpolate(l4, size=l3.shape[-2:], mode="nearest")
        m2 = l2 + F.interpolate(m3, size=l2.shape[-2:], mode="nearest")
        return tuple(conv(m) for conv, m in zip(self.smooth, (m2, m3, l4)))


def copy_weights(ours: nn.Module, theirs: PlainFPN) -> None:
    """Our parameters and buffers into theirs, by role."""
    mine = dict(ours.state_dict())
    targets = {}
    for i in range(4):
        for part, j in (("0", 0), ("1", 1)):
            for key, value in mine.items():
                if key.startswith(f"c{i + 1}.{part}."):
                    targets[f"stages.{i}.{j}.{key.rsplit('.', 1)[1]}"] = value
    for k, level in enumerate((2, 3, 4)):
        for what in ("weight", "bias"):
            targets[f"lateral.{k}.{what}"] = mine[f"lateral{level}.{what}"]
            targets[f"smooth.{k}.{what}"] = mine[f"p{level}.{what}"]
    theirs.load_state_dict(targets, strict=True)


def test_fpn_from_the_docs_equals_plain_torch() -> None:
    torch.manual_seed(0)
    ours = cnncli.build(FPN).eval()
    for module in ours.modules():  # running statistics other than 0 and 1
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    theirs = PlainFPN().eval()
    copy_weights(ours, theirs)
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        for a, b in zip(ours(x), theirs(x), strict=True):
            assert a.shape == b.shape
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_fpn_figures_are_torchs() -> None:
    a = cnncli.analyze(FPN)
    theirs = PlainFPN()
    with FlopCounterMode(display=False) as counter:
        theirs(torch.zeros(1, 3, 128, 128))
    assert a.totals()["macs"] == counter.get_total_flops() // 2
    assert a.totals()["params"] == sum(p.numel() for p in theirs.parameters())
    assert [n.output for n in a.network.outputs.values()] == \
        [(64, 32, 32), (64, 16, 16), (64, 8, 8)]
