"""`cnncli import model.onnx -o net.yaml`: a spec and its weights whose network computes what
onnxruntime computes on the file; and every zoo network exported to ONNX comes back with the
same figures."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import onnx_fixture
import pytest
import torch

from cnncli import analyze, build
from cnncli.errors import CnncliNote
from cnncli.model.export import export as run_export
from cnncli.model.onnximport import import_onnx
from cnncli.onnxin import load

#: one of each kind of graph (residual, channels-last transposes and GELU, squeeze-and-
#: excitation and SiLU, dense concat, branches, channel shuffle, segmentation heads with
#: resize, YOLOv8 with its decoding, the three transformers' attention), from both
#: exporters; the figures of every file are checked in test_onnx_figures (ViT-B/16's
#: dynamo file, 86 M weights, only there: its attention reads as the TorchScript one's)
RUN = ["vit_b_16.ts17.onnx", "swin_t.ts17.onnx",
       "maxvit_t.ts17.onnx",
       "resnet18.ts17.onnx", "convnext_tiny.dynamo18.onnx", "efficientnet_b0.dynamo18.onnx",
       "densenet121.ts17.onnx", "inception_v3.ts17.onnx", "shufflenet_v2_x1_0.ts17.onnx",
       "lraspp_mobilenet_v3_large.ts17.onnx", "deeplabv3_mobilenet_v3_large.dynamo18.onnx",
       "yolov8n.ts17.onnx"]


@pytest.mark.slow
@pytest.mark.parametrize("name", RUN)
def test_imported_network_computes_what_onnxruntime_does(name: str, tmp_path: Path) -> None:
    path = onnx_fixture.filled(name, tmp_path)
    result = import_onnx(load(path), str(tmp_path / "net.yaml"), force=False)
    # 1e-4, relative to outputs larger than 1 (YOLOv8's boxes are in pixels, up to 320)
    assert result.max_abs_diff is not None
    assert result.max_abs_diff <= 1e-4 * max(1.0, result.scale)
    # the spec and weights stand alone: build them again, as a user would
    model = build(str(tmp_path / "net.yaml"), weights=str(tmp_path / "net.pt"))
    assert sum(p.numel() for p in model.parameters()) == \
        analyze(str(tmp_path / "net.yaml")).totals()["params"]


@pytest.mark.slow  # torch builds the network, onnxruntime runs the file
def test_import_writes_a_spec_and_weights_that_verify(cli, tmp_path: Path) -> None:
    path = onnx_fixture.filled("resnet18.ts13.onnx", tmp_path)
    code, out, err = cli("import", str(path), "-o", str(tmp_path / "r18.yaml"))
    assert code == 0, err
    assert re.search(r"wrote .*r18\.yaml and .*r18\.pt \(\d+ tensors\); outputs equal "
                     r"onnxruntime's on a random input, max \|diff\| \d\.\de-0[5-9] "
                     r"\(outputs up to [\d.e+]+\)", out)
    code, out, _ = cli("verify", str(tmp_path / "r18.yaml"), "--weights",
                       str(tmp_path / "r18.pt"))
    assert code == 0 and "weights: 42 tensors from" in out
    code, _, err = cli("import", str(path), "-o", str(tmp_path / "r18.yaml"))
    assert code == 2 and "r18.yaml exists; pass --force to overwrite it" in err


def test_import_refuses_what_it_cannot_express_and_writes_nothing(cli, tmp_path: Path) -> None:
    from test_onnx_figures import partial_model
    path = tmp_path / "elu.onnx"
    path.write_bytes(partial_model())
    code, out, err = cli("import", str(path), "-o", str(tmp_path / "y.yaml"))
    assert code == 2 and out == ""
    assert "2 node(s) cnncli cannot express as layers: Elu at elu (an operator cnncli does " \
        "not know); Elu at elu_1" in " ".join(err.split())
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == [path]


def test_a_file_without_weights_is_said_so(cli, tmp_path: Path) -> None:
    path = onnx_fixture.unpack("alexnet.ts17.onnx", tmp_path)
    code, _, err = cli("import", str(path), "-o", str(tmp_path / "a.yaml"))
    assert code == 2 and "holds no numbers (a file exported without its weights)" in err
    assert list(tmp_path.iterdir()) == [path]


def expected_params(network: str) -> int:
    """The spec's parameters once the exporter has folded each BatchNorm that follows a conv
    into it: the BatchNorm's 2·C go, and a conv without a bias gains one (C)."""
    rows = [r for r in analyze(network).root.walk() if r.is_layer]
    total = analyze(network).totals()["params"]
    for before, row in zip(rows, rows[1:]):
        if row.kind in ("batchnorm", "bn", "batch_norm") and before.kind in ("conv", "conv2d") \
                and row.node.sources in ((), (before.path,)) and row.input == before.output:
            # (DenseNet's norm1 follows the last layer's conv in the walk but reads the concat)
            total -= row.params - (0 if before.layer.bias else row.output[0])
    return total


@pytest.mark.slow
@pytest.mark.parametrize("network", ["resnet18", "mobilenet_v3_small", "unet_small",
                                     "lenet5_paper"])
def test_zoo_network_exported_and_imported_keeps_its_figures(network: str,
                                                             tmp_path: Path) -> None:
    """Round trip: cnncli export --format onnx (BatchNorm folded into the convs, as the
    exporter does in eval mode), then import: the same MACs, output and parameters."""
    torch.manual_seed(0)
    model = build(network, init="torch")
    for module in model.modules():  # statistics a trained network has (zeros fold away)
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.bias.data.uniform_(-0.1, 0.1)
    run_export(model, str(tmp_path / "net.onnx"), "onnx")
    imported = load(tmp_path / "net.onnx")
    assert not imported.unpriced
    spec = tmp_path / "net.yaml"
    spec.write_text(imported.text)
    got, want = analyze(str(spec)), analyze(network)
    assert got.totals()["macs"] == want.totals()["macs"]
    assert got.output == want.output
    assert got.totals()["params"] == expected_params(network)


@pytest.mark.slow
def test_a_vit_exported_and_imported_keeps_its_figures_and_outputs(tmp_path: Path) -> None:
    """Round trip of a small ViT (two blocks of 4 heads on 64 features): cnncli's own
    attention, class token and position embedding, as the dynamo exporter writes them, come
    back as those layers, with the spec's figures, and compute what onnxruntime does."""
    small = {"hidden": 64, "heads": 4, "mlp": 128, "layers": 2}
    torch.manual_seed(0)
    model = build("vit_b_32", small, init="torch")
    with torch.no_grad():  # no two weights equal: the exporter would merge equal constants
        for p in model.parameters():
            p.uniform_(-0.1, 0.1)
    run_export(model, str(tmp_path / "net.onnx"), "onnx")
    imported = load(tmp_path / "net.onnx")
    assert not imported.unpriced
    kinds = [e.kind for e in imported.entries]
    assert kinds.count("attention") == 2 and kinds.count("class_token") == 1 and \
        kinds.count("position_embedding") == 1 and kinds.count("token") == 1
    result = import_onnx(imported, str(tmp_path / "net.yaml"), force=False)
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-4
    got, want = analyze(str(tmp_path / "net.yaml")), analyze("vit_b_32", small)
    for key in ("macs", "params"):
        assert got.totals()[key] == want.totals()[key]
    assert got.output == want.output


@pytest.mark.slow
def test_a_swin_exported_and_imported_keeps_its_figures_and_outputs(tmp_path: Path) -> None:
    """Round trip of a small Swin on a 70x56 input, so that its windows are padded and its
    patch merging pads an odd size: cnncli's window attention (shifted and not), patch
    merging and the bias tables it gathers from come back as themselves."""
    small = {"embed": 16, "depths": [2, 2], "heads": [1, 2], "window": 4}
    torch.manual_seed(0)
    model = build("swin_t", small, input=(3, 70, 56), init="torch")
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.1, 0.1)
    run_export(model, str(tmp_path / "net.onnx"), "onnx")
    imported = load(tmp_path / "net.onnx")
    assert not imported.unpriced
    windows = [e.options for e in imported.entries if e.kind == "window_attention"]
    assert windows == [{"heads": 1, "window": 4, "shift": 0}, {"heads": 1, "window": 4, "shift": 2},
                       {"heads": 2, "window": 4, "shift": 0}, {"heads": 2, "window": 4, "shift": 2}]
    result = import_onnx(imported, str(tmp_path / "net.yaml"), force=False)
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-4
    got, want = analyze(str(tmp_path / "net.yaml")), analyze("swin_t", small, input=(3, 70, 56))
    for key in ("macs", "params", "buffers"):
        assert got.totals()[key] == want.totals()[key]
    assert got.output == want.output


@pytest.mark.slow
def test_a_maxvit_exported_and_imported_keeps_its_figures_and_outputs(tmp_path: Path) -> None:
    """Round trip of a small MaxViT (two stages of one layer, 2x2 partitions on 32x32):
    cnncli's partition attention, blocks and grid, comes back as itself on the map."""
    small = {"stem": 16, "channels": [16, 32], "depths": [1, 1], "head_dim": 8,
             "partition": 2}
    torch.manual_seed(0)
    model = build("maxvit_t", small, input=(3, 32, 32), init="torch")
    with torch.no_grad():  # no two equal: the exporter would merge equal constants
        for p in model.parameters():
            p.uniform_(-0.1, 0.1)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    run_export(model, str(tmp_path / "net.onnx"), "onnx")
    imported = load(tmp_path / "net.onnx")
    assert not imported.unpriced
    parts = [e.options for e in imported.entries if e.kind == "partition_attention"]
    assert parts == [{"heads": 2, "size": 2, "grid": False}, {"heads": 2, "size": 2, "grid": True},
                     {"heads": 4, "size": 2, "grid": False}, {"heads": 4, "size": 2, "grid": True}]
    result = import_onnx(imported, str(tmp_path / "net.yaml"), force=False)
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-4
    got = analyze(str(tmp_path / "net.yaml"))
    want = analyze("maxvit_t", small, input=(3, 32, 32))
    assert got.totals()["macs"] == want.totals()["macs"] and got.output == want.output


@pytest.mark.slow
def test_lenet5_paper_units_come_back_as_themselves(tmp_path: Path) -> None:
    """cnncli's own LeNet-5 modules, as torch exports them (channel gathers, grouped convs
    and a concat; a pool, a factor and a bias per map; two scalings around a tanh; the RBF's
    |x|² − 2x·w + |w|²), come back as the layers they were, their weights with them."""
    torch.manual_seed(0)
    run_export(build("lenet5_paper", init="torch"), str(tmp_path / "net.onnx"), "onnx")
    imported = load(tmp_path / "net.onnx")
    assert [e.kind for e in imported.entries] == [
        "conv", "scaled_tanh", "subsample", "scaled_tanh", "conv", "scaled_tanh", "subsample",
        "scaled_tanh", "conv", "scaled_tanh", "flatten", "linear", "scaled_tanh", "rbf"]
    zoo = {r.path: r.node.layer for r in analyze("lenet5_paper").root.walk() if r.is_layer}
    assert imported.entries[4].options["connections"] == [list(r) for r in
                                                           zoo["c3"].connections]
    result = import_onnx(imported, str(tmp_path / "net.yaml"), force=False)
    assert result.max_abs_diff is not None
    assert result.max_abs_diff <= 1e-4 * max(1.0, result.scale)
    got, want = analyze(str(tmp_path / "net.yaml")).totals(), analyze("lenet5_paper").totals()
    assert {k: got[k] for k in ("params", "buffers", "macs", "other_ops")} == \
        {k: want[k] for k in ("params", "buffers", "macs", "other_ops")}


@pytest.mark.slow
def test_lrn_and_a_centre_crop_as_the_dynamo_exporter_writes_them(write_spec,
                                                                   tmp_path: Path) -> None:
    """torch's LRN exported as x·x, pad, 3-D average pool, scale, shift, power and divide
    comes back as one lrn layer; U-Net's unpadded skip, a slice of rows then of columns, each
    the map's centre, as crops; and the network computes what onnxruntime does."""
    spec = write_spec("""
        name: lrn_crop
        input: [3, 20, 20]
        layers:
          - conv: {out: 8, kernel: 3, name: a}
          - relu
          - lrn: {size: 5, alpha: 0.001, beta: 0.75, k: 2.0}
          - conv: {out: 4, kernel: 3, name: b}
          - crop: {like: b, from: a}
          - concat: {from: [b, 4]}
    """)
    torch.manual_seed(0)
    run_export(build(spec, init="torch"), str(tmp_path / "net.onnx"), "onnx")
    imported = load(tmp_path / "net.onnx")
    assert not imported.unpriced
    assert "- lrn: {size: 5, alpha: 0.001, beta: 0.75, k: 2.0, name: 2}" in imported.text
    assert "crop: {size: [16, 18]" in imported.text
    result = import_onnx(imported, str(tmp_path / "net.yaml"), force=False)
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-5


def torch_export(model: torch.nn.Module, shape: tuple[int, ...], path: Path,
                 dynamo: bool) -> None:
    """A module as torch writes it: the TorchScript exporter at opset 17 (it warns that it is
    the legacy one) or the dynamo one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(*shape),), str(path), dynamo=dynamo,
                          **({} if dynamo else {"opset_version": 17}))


class CalledTwice(torch.nn.Module):
    """A conv applied three times and a linear twice: one initializer each, read by several
    nodes, as a recurrent unit or a Siamese network exports."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.block = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.head = torch.nn.Linear(8, 8)
        self.out = torch.nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        for _ in range(3):
            x = torch.relu(self.block(x))
        x = torch.relu(self.head(x.mean((2, 3))))
        return self.out(torch.relu(self.head(x)))


@pytest.mark.parametrize("dynamo", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_a_module_called_twice_shares_its_weights(dynamo: bool, tmp_path: Path) -> None:
    """Weights several nodes read come back as `shares:`, counted once: the spec's params
    are torch's, and its model, built with the written weights, computes the file's."""
    torch.manual_seed(0)
    model = CalledTwice().eval()
    path = tmp_path / "twice.onnx"
    torch_export(model, (1, 3, 16, 16), path, dynamo)
    imported = load(path)
    shared = re.findall(r"- (conv|linear): \{out: 8, [^}]*shares: (block|head)\}", imported.text)
    assert shared == [("conv", "block"), ("conv", "block"), ("linear", "head")]
    assert "read by several layers" not in imported.text
    result = import_onnx(imported, str(tmp_path / "net.yaml"), force=False)
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-5
    assert analyze(str(tmp_path / "net.yaml")).totals()["params"] == \
        sum(p.numel() for p in model.parameters()) == 916
    built = build(str(tmp_path / "net.yaml"), weights=str(tmp_path / "net.pt"))
    assert built.block_2.weight is built.block.weight


def test_weights_read_by_layers_that_cannot_share_are_said(tmp_path: Path) -> None:
    """One initializer read as two convs' weights with different biases: no `shares:` (a
    layer shares all its weights or none), so the spec counts it twice and says so."""
    class HalfShared(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Conv2d(4, 4, 3, padding=1)
            self.bias = torch.nn.Parameter(torch.randn(4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.a(x)
            return torch.nn.functional.conv2d(x, self.a.weight, self.bias, padding=1)

    path = tmp_path / "half.onnx"
    torch_export(HalfShared().eval(), (1, 4, 8, 8), path, dynamo=False)
    with pytest.warns(CnncliNote, match="read by several layers"):
        imported = load(path)
    assert "shares:" not in imported.text
    assert "1 weight(s) are read by several layers (a.weight); the spec gives each layer its " \
        "own copy, so its params count 144 more numbers than the file holds" in imported.text
