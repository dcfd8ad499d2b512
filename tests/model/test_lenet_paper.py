"""The torch side of LeNet-5 as the paper builds it: each new module against a plain
formula or a dense torch equivalent, the fixed prototypes, and the variant's recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import cnncli
from cnncli.layers.modules import EuclideanRBF, ScaledTanh, SparseConv2d, Subsample2d
from cnncli.spec.load import load

TABLE = [[0, 2], [1], [0, 1, 2], [2, 0], [1]]  # rows of different sizes, out of order


def test_sparse_conv_equals_a_masked_dense_conv() -> None:
    torch.manual_seed(0)
    conv = SparseConv2d(3, TABLE, (3, 2), stride=(2, 1), padding=(1, 0), out=5)
    assert sum(p.numel() for p in conv.parameters()) == (2 + 1 + 3 + 2 + 1) * 6 + 5
    dense = torch.zeros(5, 3, 3, 2)
    bias = torch.zeros(5)
    done = {size: 0 for size in (1, 2, 3)}  # the parts are the row sizes, in order
    for part, size in zip(conv.parts, (1, 2, 3)):
        for i, row in enumerate(TABLE):
            if len(row) == size:
                j = done[size]
                dense[i, row] = part.weight[j].detach()
                bias[i] = part.bias[j].detach()
                done[size] += 1
    x = torch.randn(2, 3, 9, 8)
    expected = F.conv2d(x, dense, bias, stride=(2, 1), padding=(1, 0))
    assert torch.allclose(conv(x), expected, atol=1e-6)


def test_subsample_is_a_weighted_window_sum_plus_bias() -> None:
    layer = Subsample2d(2, (2, 2), (2, 2))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.5, -2.0]))
        layer.bias.copy_(torch.tensor([1.0, 0.25]))
    x = torch.arange(32.0).reshape(1, 2, 4, 4)
    sums = x.reshape(1, 2, 2, 2, 2, 2).sum((3, 5))
    expected = sums * torch.tensor([0.5, -2.0]).view(1, 2, 1, 1) \
        + torch.tensor([1.0, 0.25]).view(1, 2, 1, 1)
    assert torch.allclose(layer(x), expected)
    assert Subsample2d(3, (2, 2), (2, 2)).weight.tolist() == [0.25] * 3  # starts as avgpool


def test_scaled_tanh_maps_one_to_one() -> None:
    f = ScaledTanh(1.7159, 2 / 3)
    y = f(torch.tensor([-1.0, 0.0, 1.0, 50.0], dtype=torch.float64))
    assert torch.allclose(y[:3], torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64),
                          atol=1e-4)  # the paper's choice: f(1) = 1
    assert y[3] == 1.7159


def test_rbf_outputs_minus_the_squared_distance() -> None:
    torch.manual_seed(0)
    prototypes = torch.randn(4, 7).sign()
    rbf = EuclideanRBF(prototypes)
    x = torch.randn(3, 7)
    expected = -torch.cdist(x, prototypes).square()
    assert torch.allclose(rbf(x), expected, atol=1e-4)
    assert list(rbf.parameters()) == []


def test_lenet5_paper_prototypes_are_fixed_plus_minus_one() -> None:
    a, b = cnncli.build("lenet5_paper"), cnncli.build("lenet5_paper")
    codes = a.output.prototypes
    assert codes.shape == (10, 84)
    assert set(codes.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(codes, b.output.prototypes)  # the same on every build
    assert "output.prototypes" in a.state_dict()
    assert not any(name.startswith("output.") for name, _ in a.named_parameters())
    distances = torch.cdist(codes, codes, p=0)  # differing positions between codes
    assert distances[~torch.eye(10, dtype=torch.bool)].min() >= 30


def test_lenet5_paper_summary_json_has_connections(cli) -> None:
    code, out, err = cli("summary", "lenet5_paper", "-f", "json")
    assert code == 0, err
    doc = json.loads(out)
    by_path = {row["path"]: row["connections"] for row in doc["layers"]}
    assert [by_path[p] for p in ("c1", "s2", "c3", "s4", "c5", "f6", "output")] == \
        [122_304, 5_880, 151_600, 2_000, 48_120, 10_164, 840]
    assert doc["totals"]["connections"] == 340_908 == sum(by_path.values())
    assert "fixed RBF prototypes" in cli("summary", "lenet5_paper")[1]


def test_variant_recipe_overrides_the_spec_recipe() -> None:
    shared = load("lenet5").train
    paper = load("lenet5_paper").train
    assert shared.values["lr"] != paper.values["lr"]
    assert paper.values["fit"] == shared.values["fit"] == "pad"  # keys the variant leaves alone


@pytest.mark.slow
def test_lenet5_paper_learns_the_blocks(digits: Path, tmp_path: Path, cli) -> None:  # noqa: F811
    out = tmp_path / "run"
    code, _, err = cli("train", "lenet5_paper", "--data-dir", str(digits), "--epochs", "2",
                       "--out", str(out), "--device", "cpu")
    assert code == 0, err
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert history[-1]["val_acc"] > 0.9


@pytest.mark.slow
def test_lenet5_paper_exports_to_onnx(tmp_path: Path, cli) -> None:
    """export runs the file in onnxruntime and refuses a difference from torch (ONNX has
    no avg_pool divisor_override, which once made the subsampling 4x off)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    code, out, err = cli("export", "lenet5_paper", "-f", "onnx", "-o",
                         str(tmp_path / "lenet.onnx"))
    assert code == 0, err
    assert "onnxruntime" in out
