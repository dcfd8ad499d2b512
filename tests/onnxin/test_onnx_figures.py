"""`cnncli summary model.onnx`: figures of ONNX files exported from torchvision's classifiers
and segmentation models and YOLOv8n (tests/fixtures/onnx_models.zip) equal torchvision's own
counts, and the imported network reads like the network's source."""

from __future__ import annotations

import json
from pathlib import Path

import onnx_fixture
import pytest

from cnncli import analyze
from cnncli.onnxin import load
from cnncli.onnxin.proto import read

#: ops whose float initializers are parameters (BatchNorm's statistics are buffers)
WEIGHT_INPUTS = {"Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (1, 2), "MatMul": (1,),
                 "BatchNormalization": (1, 2), "LayerNormalization": (1, 2)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


def weight_numbers(path: Path) -> int:
    """The numbers in the file's weight initializers, each initializer once."""
    model = read(path)
    names = {node.inputs[i] for node in model.graph.nodes if node.op in WEIGHT_INPUTS
             for i in WEIGHT_INPUTS[node.op] if i < len(node.inputs)}
    names |= {i for node in model.graph.nodes if node.op in ("Add", "Mul") for i in node.inputs
              if i in model.graph.initializers and model.graph.initializers[i].size > 16}
    return sum(model.graph.initializers[n].size for n in names if n in model.graph.initializers)


@pytest.mark.parametrize("name", onnx_fixture.files())
def test_macs_equal_torchvisions_count(name: str, folder: Path) -> None:
    network = name.split(".")[0]
    a = analyze(str(onnx_fixture.unpack(name, folder)))
    assert a.totals()["macs"] == onnx_fixture.meta()[network]["macs"]
    assert list(a.input) == onnx_fixture.meta()[network]["input"]


@pytest.mark.parametrize("name", [f for f in onnx_fixture.files()
                                  if not f.startswith(("convnext", "yolov8"))])
def test_params_equal_the_files_weights(name: str, folder: Path) -> None:
    """(ConvNeXt's untrained LayerNorm weights are all ones: the exporter keeps one copy for
    several layers, which the spec gives each its own; YOLOv8's decoding is not priced.)"""
    path = onnx_fixture.unpack(name, folder)
    a = analyze(str(path))
    assert not a.unpriced()
    assert a.totals()["params"] == weight_numbers(path)


def test_a_resnet_stage_is_one_block_repeated(folder: Path) -> None:
    text = load(onnx_fixture.unpack("resnet50.ts17.onnx", folder)).text
    assert text.count("- repeat:") == 4
    assert "- repeat: {count: 2, inline: true, body: layer1_unit}  # layer1.1 ... layer1.2" \
        in text
    assert "- repeat: {count: 5, inline: true, body: layer3_unit}  # layer3.1 ... layer3.5" \
        in text
    assert "add: {name: add, from: [conv3, input]}" in text
    rows = {r.path for r in analyze(str(folder / "resnet50.ts17.onnx")).root.walk()}
    assert {"layer3.5.conv3", "layer2.0.downsample.0", "fc"} <= rows


def test_the_dynamo_exporters_file_reads_as_the_torchscript_exporters(folder: Path) -> None:
    """Two exporters, one network: the same rows, names and figures."""
    def table(name: str) -> list:
        a = analyze(str(onnx_fixture.unpack(name, folder)))
        return [(r.path, r.kind, r.output, r.params, r.macs) for r in a.root.frontier(None)]
    assert table("resnet50.ts17.onnx") == table("resnet50.dynamo18.onnx")


def test_json_is_the_specs_contract(cli, folder: Path) -> None:
    path = onnx_fixture.unpack("mobilenet_v3_large.ts17.onnx", folder)
    code, out, _ = cli("summary", str(path), "--format", "json")
    doc = json.loads(out)
    assert code == 0
    assert doc["totals"]["macs"] == onnx_fixture.meta()["mobilenet_v3_large"]["macs"]
    assert doc["totals"]["partial"] is False and "unpriced" not in doc
    assert sum(r["macs"] for r in doc["layers"]) == doc["totals"]["macs"]
    gate = next(r for r in doc["layers"] if r["type"] == "multiply")
    assert gate["output"] == [72, 28, 28]


def test_yolov8s_decoding_is_marked_partial(cli, folder: Path) -> None:
    """Not priced is said, by operator, count and place, in the table and the JSON."""
    path = onnx_fixture.unpack("yolov8n.dynamo18.onnx", folder)
    code, out, _ = cli("flops", str(path), "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["totals"]["partial"] is True
    ops = {o["op"]: o["count"] for o in doc["unpriced"]}
    assert ops == {"Reshape": 2, "Transpose": 1, "Sub": 2, "Add": 1, "Div": 1, "Mul": 1}
    code, out, _ = cli("summary", str(path))
    assert "PARTIAL  " in out and "the totals leave out 8 operator(s)" in out


@pytest.mark.parametrize(("name", "zoo"), [("mobilenet_v3_large.ts17.onnx", "mobilenet_v3_large"),
                                           ("efficientnet_b0.dynamo18.onnx", "efficientnet_b0"),
                                           ("resnet50.ts17.onnx", "resnet50"),
                                           ("densenet121.ts17.onnx", "densenet121")])
def test_receptive_field_equals_the_zoo_networks(name: str, zoo: str, folder: Path) -> None:
    """A squeeze-and-excitation multiply (a Cx1x1 factor on a map, as a graph join) keeps the
    map's grid, as the zoo's gate composite does."""
    a, b = analyze(str(onnx_fixture.unpack(name, folder))), analyze(zoo)
    assert (a.root.rf.size, a.root.rf.jump) == (b.root.rf.size, b.root.rf.jump)
    assert a.totals()["macs"] == b.totals()["macs"]
