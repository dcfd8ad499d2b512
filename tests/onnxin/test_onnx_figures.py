"""`cnncli summary model.onnx`: figures of ONNX files exported from torchvision's classifiers
and segmentation models and YOLOv8n (tests/fixtures/onnx_models.zip) equal torchvision's own
counts, and the imported network reads like the network's source."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx_fixture
import pytest

from cnncli import analyze
from cnncli.analysis.analyze import Analysis
from cnncli.onnxin import load
from cnncli.onnxin.follow import attention_products
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
              if i in model.graph.initializers and model.graph.initializers[i].size > 16
              and model.graph.initializers[i].dims[0] != 1}  # not YOLOv8's anchors, strides
    inits = model.graph.initializers
    for node in model.graph.nodes if attention_products(model) else ():
        # a ViT's class token (expanded, or a constant the exporter expanded) and its
        # position embedding, (1, L, D)
        reads = [i for i in node.inputs if i in inits and len(inits[i].dims) == 3]
        if node.op in ("Expand", "Concat", "Add"):
            names |= {i for i in reads if inits[i].dims[0] == 1}
    return sum(model.graph.initializers[n].size for n in names if n in model.graph.initializers)


#: one file of each exporter and family in the fast run; all 43 in the whole suite
FAST = {"alexnet.ts17.onnx", "resnet18.ts13.onnx", "resnet50.dynamo18.onnx",
        "mobilenet_v3_large.ts17.onnx", "efficientnet_b0.dynamo18.onnx",
        "densenet121.ts17.onnx", "convnext_tiny.dynamo18.onnx", "shufflenet_v2_x1_0.ts17.onnx",
        "lraspp_mobilenet_v3_large.ts17.onnx", "yolov8n.ts17.onnx"}


def tables(a: Analysis) -> int:
    """The numbers of the relative position bias tables: the TorchScript exporter writes
    each Swin or MaxViT attention's bias as computed from its table, not the table."""
    return sum(r.cost.params - 4 * r.input[0] ** 2 - 4 * r.input[0] for r in a.root.walk()
               if r.is_layer and r.kind in ("window_attention", "partition_attention"))


@pytest.mark.parametrize("name", [pytest.param(f, marks=() if f in FAST else pytest.mark.slow)
                                  for f in onnx_fixture.files()])
def test_macs_equal_torchvisions_count_and_params_the_files_weights(name: str,
                                                                    folder: Path) -> None:
    network = name.split(".")[0]
    path = onnx_fixture.unpack(name, folder)
    a = analyze(str(path))
    assert not a.unpriced()
    assert a.totals()["macs"] == onnx_fixture.meta()[network]["macs"]
    assert list(a.input) == onnx_fixture.meta()[network]["input"]
    assert a.totals()["params"] == weight_numbers(path) + tables(a)


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


def test_vits_encoder_is_one_block_repeated_with_torchvisions_names(folder: Path) -> None:
    text = load(onnx_fixture.unpack("vit_b_16.ts17.onnx", folder)).text
    assert "- repeat: {name: layers, count: 12, prefix: encoder_layer_, start: 0, body: " \
        "encoder_layers_unit}  # encoder.layers.encoder_layer_0 ... encoder_layer_11" in text
    assert "- attention: {heads: 12, name: self_attention}" in text
    assert "- add: {name: add, from: [self_attention, input]}" in text
    rows = {r.path: r for r in analyze(str(folder / "vit_b_16.ts17.onnx")).root.walk()}
    assert rows["encoder.layers.encoder_layer_11.self_attention"].macs == 524_391_936
    assert rows["class_token"].params == 768 and rows["encoder.pos_embedding"].params == 151_296


def test_swins_windows_come_back_with_their_shifts_and_bias_tables(folder: Path) -> None:
    """torchvision's Swin-T: every block's window attention with its heads and shift (none
    where the map is one window: stage 4), patch merging, its buffers; the tables of the
    relative position bias counted as parameters, as torchvision holds them."""
    imported = load(onnx_fixture.unpack("swin_t.ts17.onnx", folder))
    kinds, text = [e.kind for e in imported.entries], imported.text
    assert kinds.count("window_attention") == 12 and kinds.count("patch_merge") == 3
    assert "- window_attention: {heads: 3, window: 7, shift: 3, name: attn}" in text
    assert "- window_attention: {heads: 24, window: 7, shift: 0, name: attn}" in text
    rows = {r.path: r for r in analyze(str(folder / "swin_t.ts17.onnx")).root.walk()}
    attn = rows["features.1.1.attn"]
    assert (attn.params, attn.buffers) == (4 * 96 * 96 + 4 * 96 + 169 * 3, 49 * 49)
    assert rows["features.2.patch_merge"].output == (384, 28, 28)
    assert analyze(str(folder / "swin_t.ts17.onnx")).totals()["buffers"] == 28_812


def test_maxvits_blocks_and_grids_come_back_with_torchvisions_names(folder: Path) -> None:
    """torchvision's MaxViT-T: its 11 layers' block and grid attention as partition
    attention, named as torchvision names them, on the map itself (its partitions and the
    layer norms and MLPs between them act on each position)."""
    path = onnx_fixture.unpack("maxvit_t.ts17.onnx", folder)
    attention = [e.options for e in load(path).entries if e.kind == "partition_attention"]
    # on the last stage's 7x7 map a grid is one block of the whole map: read as a block
    assert len(attention) == 22 and sum(o["grid"] for o in attention) == 9
    assert [o["heads"] for o in attention[::2]] == [2, 2, 4, 4, 8, 8, 8, 8, 8, 16, 16]
    rows = {r.path: r for r in analyze(str(path)).root.walk()}
    grid = rows["blocks.3.layers.1.layers.grid_attention.attn_layer.1"]
    assert (grid.kind, grid.output, grid.cost.params) == \
        ("partition_attention", (512, 7, 7), 4 * 512 * 512 + 4 * 512 + 169 * 16)


@pytest.mark.parametrize("network", ["resnet50", "vit_b_16"])
def test_the_dynamo_exporters_file_reads_as_the_torchscript_exporters(network: str,
                                                                      folder: Path) -> None:
    """Two exporters, one network: the same rows, names and figures."""
    def table(name: str) -> list:
        a = analyze(str(onnx_fixture.unpack(name, folder)))
        return [(r.path, r.kind, r.output, r.params, r.macs) for r in a.root.frontier(None)]
    assert table(f"{network}.ts17.onnx") == table(f"{network}.dynamo18.onnx")


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


def test_an_operator_cnncli_cannot_price_marks_the_totals_partial(cli, tmp_path: Path) -> None:
    """Not priced is said, by operator, count and place, in the table and the JSON; the rest
    of the network is still counted."""
    path = tmp_path / "elu.onnx"
    path.write_bytes(partial_model())
    code, out, _ = cli("flops", str(path), "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["totals"]["partial"] is True
    assert doc["unpriced"] == [{"op": "Elu", "count": 2, "paths": ["elu", "elu_1"]}]
    assert doc["totals"]["macs"] == 4 * 3 * 9 * 36 + 4 * 4 * 9 * 16  # the two convs
    code, out, _ = cli("summary", str(path))
    assert code == 0
    assert "PARTIAL             the totals leave out 2 operator(s) cnncli cannot price: Elu " \
        "x2 (elu, elu_1)" in out


def partial_model() -> bytes:
    """Conv, Elu, Conv, Elu: Elu is an activation cnncli does not have."""
    from onnx import TensorProto, helper

    def info(name: str, c: int, side: int):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, c, side, side])
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], kernel_shape=[3, 3], name="c1"),
             helper.make_node("Elu", ["a"], ["b"], name="e1"),
             helper.make_node("Conv", ["b", "w2"], ["c"], kernel_shape=[3, 3], name="c2"),
             helper.make_node("Elu", ["c"], ["y"], name="e2")]
    weights = [helper.make_tensor("w1", TensorProto.FLOAT, [4, 3, 3, 3], [0.1] * 108),
               helper.make_tensor("w2", TensorProto.FLOAT, [4, 4, 3, 3], [0.1] * 144)]
    graph = helper.make_graph(nodes, "g", [info("x", 3, 8)], [info("y", 4, 4)], weights,
                              value_info=[info("a", 4, 6), info("b", 4, 6), info("c", 4, 4)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]) \
        .SerializeToString()


@pytest.mark.parametrize("name", ["yolov8n.ts17.onnx", "yolov8n.dynamo18.onnx"])
def test_yolov8s_decoding_is_one_yolo_decode(name: str, folder: Path) -> None:
    a = analyze(str(onnx_fixture.unpack(name, folder)))
    assert not a.unpriced()
    decode = [r for r in a.root.walk() if r.kind == "yolo_decode"]
    assert len(decode) == 1 and decode[0].output == (84, 2100)
    assert decode[0].layer.grids == ((40, 40), (20, 20), (10, 10))
    assert decode[0].layer.strides == (8, 16, 32)
    zoo = analyze("yolov8n", input=(3, 320, 320))
    assert a.totals()["macs"] == zoo.totals()["macs"]



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


def test_a_symbolic_input_takes_the_shape_from_input_and_batch(cli, tmp_path: Path) -> None:
    from onnx import TensorProto, helper
    conv = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                            strides=[2, 2], name="conv")
    graph = helper.make_graph(
        [conv], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                    ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4, "h2", "w2"])],
        [helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], [0.1] * 108)])
    path = tmp_path / "any_size.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
                     .SerializeToString())
    code, out, _ = cli("summary", str(path), "--input", "3x64x48", "--batch", "8",
                       "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["input"] == [3, 64, 48] and doc["output"] == [4, 32, 24]
    assert doc["totals"]["macs"] == 8 * 4 * 32 * 24 * 27
    code, _, err = cli("summary", str(path), "--input", "12")
    assert code == 2 and "--input 12 has 1 axes; the file's input 'x' has 3 per sample" in err


def two_convs_one_weight(first: str, second: str) -> bytes:
    """Two Convs reading one initializer, named (the TorchScript exporter's way of recording
    their modules) `first` and `second`."""
    from onnx import TensorProto, helper

    def info(name: str) -> object:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 4, 8, 8])
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1], name=first),
             helper.make_node("Conv", ["a", "w"], ["y"], kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1], name=second)]
    graph = helper.make_graph(nodes, "g", [info("x")], [info("y")],
                              [helper.make_tensor("w", TensorProto.FLOAT, [4, 4, 3, 3],
                                                  [0.1] * 144)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]) \
        .SerializeToString()


def test_a_weight_two_layers_read_is_counted_once(cli, tmp_path: Path) -> None:
    """A module called twice: one initializer, two convs recorded under one module. The
    second uses the first's weights (`shares:`), so the params are the file's."""
    path = tmp_path / "twice.onnx"
    path.write_bytes(two_convs_one_weight("/conv/Conv", "/conv/Conv_1"))
    code, out, err = cli("summary", str(path), "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["totals"]["params"] == 144 and err == ""
    assert [(r["path"], r["params"], r.get("shares")) for r in doc["layers"]] == \
        [("conv", 144, None), ("conv_1", 0, "conv")]
    code, out, _ = cli("summary", str(path))
    assert "Shared weights      conv_1 uses conv's (counted once, at the owner)" in out


def test_equal_weights_of_two_modules_stay_apart(cli, tmp_path: Path) -> None:
    """Exporters merge equal constants (an untrained network's norms): one initializer
    read by the convs of two modules is two layers' weights, each counted, and said so."""
    path = tmp_path / "merged.onnx"
    path.write_bytes(two_convs_one_weight("/a/Conv", "/b/Conv"))
    code, out, err = cli("summary", str(path), "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["totals"]["params"] == 2 * 144
    assert not any("shares" in r for r in doc["layers"])
    assert "1 weight(s) are read by several layers (w); the spec gives each layer its own " \
        "copy, so its params count 144 more numbers than the file holds" in " ".join(err.split())


def test_explain_places_a_layer_in_the_imported_spec(cli, folder: Path) -> None:
    """A layer of an ONNX file is at a line of the spec `cnncli import` writes (said so),
    here the block a ResNet stage's repeated units share."""
    path = onnx_fixture.unpack("resnet18.ts17.onnx", folder)
    code, out, _ = cli("explain", str(path), "layer1.1.conv1")
    assert code == 0
    assert f"layer1.1.conv1 (conv)  {path} (imported):8:9" in out
    text = load(path).text.splitlines()
    assert text[7].strip().startswith("- conv: {out: 64, kernel: 3, padding: 1, bias: true, "
                                      "name: conv1}")


def test_a_reference_that_an_earlier_name_would_hide_is_refused() -> None:
    """`0.1` from inside features.1.0.block, where an earlier `0` (block.0) stands: the
    spec's lookup would find block.0 first, so no name reaches features.0.1 from there. From
    features.1.0 it does: the entries inside the reader's own unit have no name yet."""
    from cnncli.onnxin.tree import Unreachable, reference
    paths = {0: ["features", "0", "1"], 1: ["features", "1", "0", "block", "0"],
             2: ["features", "1", "0", "block", "2"], 3: ["features", "1", "0", "add"]}
    with pytest.raises(Unreachable):
        reference(0, ["features", "1", "0", "block"], paths, before=2)
    assert reference(0, ["features", "1", "0"], paths, before=3) == "0.1"
    assert reference(1, ["features", "1", "0", "block"], paths, before=2) == "0"


def test_a_constant_of_shape_fills_with_its_value(cli, tmp_path: Path) -> None:
    """ConstantOfShape's fill is a tensor in the file's raw bytes (torch writes int64 1 for
    expand(-1)'s arithmetic): a Reshape to [1, -1] made from it flattens the map. Read as
    0, as it once was, the shape was [1, 0] and the file unreadable."""
    from onnx import TensorProto, helper, numpy_helper
    fill = numpy_helper.from_array(np.array([-1], dtype=np.int64))
    nodes = [helper.make_node("Constant", [], ["one"], value=numpy_helper.from_array(
                 np.array([1], dtype=np.int64))),
             helper.make_node("ConstantOfShape", ["one"], ["minus"], value=fill),
             helper.make_node("Concat", ["one", "minus"], ["target"], axis=0),
             helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], name="/conv/Conv"),
             helper.make_node("Reshape", ["c", "target"], ["y"], name="/flatten/Reshape")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 144])],
        [helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], [0.1] * 108)])
    path = tmp_path / "fill.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
                     .SerializeToString())
    code, out, err = cli("summary", str(path), "--format", "json")
    assert code == 0, err
    assert [(r["type"], r["output"]) for r in json.loads(out)["layers"]] == \
        [("conv", [4, 6, 6]), ("flatten", [144])]


def attention_model(tail: str) -> bytes:
    """Self-attention's product on a 4x8 sequence (x · xᵀ), then `tail`: an op of another
    domain, whose output shape neither the file nor onnx's inference gives."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1], name="keys"),
             helper.make_node("MatMul", ["x", "xt"], ["scores"], name="attn/MatMul"),
             helper.make_node(tail, ["scores"], ["y"], name="mystery", domain="example.org")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   helper.make_opsetid("example.org", 1)]) \
        .SerializeToString()


def test_a_transformer_it_cannot_follow_is_named_as_one(cli, tmp_path: Path) -> None:
    """Where cnncli stops in a transformer whose attention it does not read, the error says
    that this is why."""
    path = tmp_path / "attention.onnx"
    path.write_bytes(attention_model("Mystery"))
    code, _, err = cli("summary", str(path))
    assert code == 2
    assert "node 'mystery' (Mystery): an operator cnncli does not know, and the file records " \
        "no shape for its output" in err
    assert "The graph is a transformer's: 1 MatMul or Einsum node(s) multiply activations by " \
        "activations, as attention does (the first: 'attn/MatMul'); cnncli reads ViT's " \
        "global attention, Swin's shifted windows and MaxViT's blocks and grids as exporters " \
        "write them, and this graph's attention is none of those" in err


TRANSFORMERS = {"vit_b_16": 24, "swin_t": 24, "maxvit_t": 44}  # two products per attention


def test_only_the_transformers_among_the_fixtures_have_attention_products(folder: Path) -> None:
    """ConvNeXt's 36 MatMuls (its pointwise linears, in both exporters' files) read a
    weight: only a product of two values computed from the input counts as attention."""

    found = {name: len(attention_products(read(onnx_fixture.unpack(name, folder))))
             for name in onnx_fixture.files()}
    assert len(found) == len(onnx_fixture.files()) > 40
    assert {name: n for name, n in found.items() if n} == {
        name: TRANSFORMERS[name.split(".")[0]] for name in found
        if name.split(".")[0] in TRANSFORMERS}
