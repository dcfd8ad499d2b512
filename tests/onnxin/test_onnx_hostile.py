"""ONNX files are untrusted input: corrupt, truncated, oversized or hostile files get one
clear sentence and exit status 2, quickly, and nothing outside the file's folder is read."""

from __future__ import annotations

import random
import time
from pathlib import Path

import onnx_fixture
import pytest
from onnx import TensorProto, helper

from cnncli import analyze
from cnncli.model.onnximport import import_onnx
from cnncli.onnxin import load


def model_with(nodes: list, inputs: list, outputs: list, initializers: list = (),
               value_info: list = ()) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers),
                              value_info=list(value_info))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]) \
        .SerializeToString()


def image(name: str = "x", shape: tuple = (1, 3, 8, 8)):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def conv_weight(name: str = "w", external: str | None = None) -> TensorProto:
    tensor = helper.make_tensor(name, TensorProto.FLOAT, [4, 3, 3, 3], [0.1] * 108)
    if external is not None:
        tensor.ClearField("float_data")
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", external), ("offset", "0"), ("length", "432")):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
    return tensor


def dims_only(name: str, dims: list[int]) -> TensorProto:
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT)
    tensor.dims.extend(dims)
    return tensor


CONV = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], name="conv")


def attention_file(split: list[int] | None = (1, 6, 3, 2, 2), scale: float = 2 ** -0.5) -> bytes:
    """Self-attention on the 6 tokens of 4 features of a 4x2x3 map (its positions), in 2
    heads, as torch exports it: the q, k, v
    projection, a reshape by `split` into heads, gathers, q·kᵀ scaled, softmax, ·v, the heads
    merged, the output projection. `split` None: the reshape's target is computed from a
    ConstantOfShape of 4096³ numbers (a bomb in the attention's shape arithmetic). `scale`
    multiplies q·kᵀ (2^-1/2 for heads of 2 features, as torch's attention scales)."""
    d, n = 4, 6
    def tensor(name: str, dims: list[int], scale: float = 0.05) -> TensorProto:
        count = 1
        for k in dims:
            count *= k
        return helper.make_tensor(name, TensorProto.FLOAT, dims,
                                  [scale * ((7 * i) % 11 - 5) for i in range(count)])
    ints = {"q": [0], "k": [1], "v": [2], "merge": [1, n, d], "split": list(split or []),
            "flat": [1, d, n]}
    consts = [helper.make_tensor(name, TensorProto.INT64, [] if len(v) == 1 else [len(v)], v)
              for name, v in ints.items() if v]
    nodes = []
    if split is None:
        consts.append(helper.make_tensor("huge", TensorProto.INT64, [3], [4096] * 3))
        nodes += [helper.make_node("ConstantOfShape", ["huge"], ["bomb"], name="bomb"),
                  helper.make_node("Shape", ["bomb"], ["split"], name="shape")]
    node = helper.make_node
    nodes += [
        node("Reshape", ["x", "flat"], ["xf"], name="tokens"),
        node("Transpose", ["xf"], ["t"], perm=[0, 2, 1], name="attn/tokens"),
        node("MatMul", ["t", "w_in"], ["p"], name="attn/in_proj"),
        node("Add", ["p", "b_in"], ["qkv"], name="attn/in_bias"),
        node("Reshape", ["qkv", "split"], ["r"], name="attn/split"),
        node("Transpose", ["r"], ["h"], perm=[2, 0, 3, 1, 4], name="attn/heads"),
        *[node("Gather", ["h", part], [part + "0"], axis=0, name=f"attn/{part}")
          for part in "qkv"],
        node("Transpose", ["k0"], ["kt"], perm=[0, 1, 3, 2], name="attn/keys"),
        node("MatMul", ["q0", "kt"], ["s"], name="attn/scores"),
        node("Mul", ["s", "scale"], ["ss"], name="attn/scale"),
        node("Softmax", ["ss"], ["a"], axis=-1, name="attn/softmax"),
        node("MatMul", ["a", "v0"], ["o"], name="attn/mix"),
        node("Transpose", ["o"], ["ot"], perm=[0, 2, 1, 3], name="attn/gather"),
        node("Reshape", ["ot", "merge"], ["m"], name="attn/merge"),
        node("MatMul", ["m", "w_out"], ["y0"], name="attn/out_proj"),
        node("Add", ["y0", "b_out"], ["y1"], name="attn/out_bias"),
        node("Transpose", ["y1"], ["y"], perm=[0, 2, 1], name="attn/back")]
    inits = [tensor("w_in", [d, 3 * d]), tensor("b_in", [3 * d]), tensor("w_out", [d, d]),
             tensor("b_out", [d]), helper.make_tensor("scale", TensorProto.FLOAT, [],
                                                       [scale]), *consts]
    return model_with(nodes, [image("x", (1, d, 2, 3))], [image("y", (1, d, n))], inits)


def test_an_attention_whose_shapes_do_not_work_out_is_never_priced(cli, tmp_path: Path) -> None:
    """A split into two parts, not q, k and v, whose third gather reads past them: not read
    as attention; its nodes are listed unpriced (onnx's shape inference gives their shapes)
    and the totals say partial."""
    import json
    path = tmp_path / "attention.onnx"
    path.write_bytes(attention_file([1, 6, 2, 3, 2]))
    code, out, err = cli("summary", str(path), "--format", "json")
    assert code == 0, err
    totals = json.loads(out)["totals"]
    assert totals["partial"] and totals["macs"] == 384  # the two projections only
    ops = {u["op"] for u in json.loads(out)["unpriced"]}
    assert {"MatMul", "Softmax", "Gather"} <= ops


def test_an_attention_scaled_otherwise_is_not_read_as_one(tmp_path: Path) -> None:
    """Unscaled scores compute another function than cnncli's attention: left as nodes."""
    path = tmp_path / "attention.onnx"
    path.write_bytes(attention_file(scale=1.0))
    assert "attention" not in [e.kind for e in load(path).entries]


def test_a_well_formed_attention_reads_as_one_layer(tmp_path: Path) -> None:
    """The control for the hostile attention files: their well-formed twin is one attention
    of 2 heads (4·6·4² + 2·6²·4 = 672 MACs) and computes what onnxruntime does."""
    path = tmp_path / "attention.onnx"
    path.write_bytes(attention_file())
    imported = load(path)
    assert [e.kind for e in imported.entries] == ["flatten", "attention"]
    assert imported.entries[1].options == {"heads": 2}
    assert analyze(str(path)).totals()["macs"] == 672
    result = import_onnx(imported, str(tmp_path / "net.yaml"), force=False)
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-5


def hostile_files() -> dict[str, tuple[bytes, str]]:
    """name -> (the file's bytes, words the error must contain)."""
    resnet = (onnx_fixture.ARCHIVE, "resnet18.ts17.onnx")
    import zipfile
    real = zipfile.ZipFile(resnet[0]).read(resnet[1])
    rng = random.Random(0)
    return {
        "empty.onnx": (b"", "the file is empty"),
        "text.onnx": (b"name: lenet\nlayers: []\n" * 10, "not a readable ONNX model"),
        "noise.onnx": (bytes(rng.randrange(256) for _ in range(4096)),
                       "not a readable ONNX model"),
        "truncated_half.onnx": (real[:len(real) // 2], "truncated?"),
        "truncated_header.onnx": (real[:7], "not a readable ONNX model"),
        "length_bomb.onnx": (b"\x08\x07\x3a\xff\xff\xff\xff\xff\x3f", "claims"),
        "varint_runaway.onnx": (b"\x08" + b"\xff" * 12, "runs past 10 bytes"),
        "group_wire_type.onnx": (b"\x08\x07\x3b", "wire type 3"),
        "dims_bomb.onnx": (model_with(
            [CONV], [image()], [image("y", (1, 4, 6, 6))],
            [dims_only("w", [2**20, 2**20, 2**20, 1])]),
            "claims"),
        "cycle.onnx": (model_with(
            [helper.make_node("Relu", ["z"], ["y"], name="a"),
             helper.make_node("Relu", ["y"], ["z"], name="b")],
            [image()], [image("y")]), "or the graph has a cycle"),
        "constant_bomb.onnx": (model_with(
            [helper.make_node("Constant", [], ["s"], value=helper.make_tensor(
                "s", TensorProto.INT64, [4], [1, 4096, 4096, 4096]), name="s"),
             helper.make_node("ConstantOfShape", ["s"], ["big"], name="fill"),
             helper.make_node("Add", ["x", "big"], ["y"], name="add")],
            [image()], [image("y")]), "at most 1,000,000 numbers"),
        "subgraph_no_shape.onnx": (model_with(
            [helper.make_node("If", ["x"], ["y"], name="branch",
                              then_branch=helper.make_graph([], "t", [], []),
                              else_branch=helper.make_graph([], "e", [], []))],
            [image()], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]),
            "cannot follow the graph past it"),
        "attention_shape_bomb.onnx": (attention_file(None), "at most 1,000,000 numbers"),
        "symbolic_input.onnx": (model_with(
            [CONV], [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                   ["n", 3, "h", "w"])],
            [image("y", (1, 4, 6, 6))], [conv_weight()]), "give --input"),
    }


@pytest.mark.parametrize("name", sorted(hostile_files()))
def test_hostile_file_gets_one_sentence_and_exit_2(name: str, cli, tmp_path: Path) -> None:
    data, words = hostile_files()[name]
    path = tmp_path / name
    path.write_bytes(data)
    start = time.process_time()
    code, out, err = cli("summary", str(path))
    assert time.process_time() - start < 5
    assert code == 2 and out == ""
    assert err.count("error: ") == 1 and "Traceback" not in err
    assert words in " ".join(err.split()), err


def test_external_data_cannot_leave_the_files_folder(tmp_path: Path) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\0" * 432)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "link.bin").symlink_to(secret)
    for location in ("../secret.bin", str(secret), "link.bin"):
        path = folder / "net.onnx"
        path.write_bytes(model_with([CONV], [image()], [image("y", (1, 4, 6, 6))],
                                    [conv_weight(external=location)]))
        imported = load(path)  # the figures need only the dims: no data is read
        assert "conv: {out: 4, kernel: 3, bias: false, name: conv}" in imported.text
        with pytest.raises(Exception, match="outside the model's folder"):
            import_onnx(imported, str(folder / "net.yaml"), force=True)
        assert not (folder / "net.yaml").exists() and not (folder / "net.pt").exists()


def test_external_data_beside_the_file_is_read(tmp_path: Path) -> None:
    import numpy as np
    (tmp_path / "w.bin").write_bytes(np.full(108, 0.5, np.float32).tobytes())
    path = tmp_path / "net.onnx"
    path.write_bytes(model_with([CONV], [image()], [image("y", (1, 4, 6, 6))],
                                [conv_weight(external="w.bin")]))
    result = import_onnx(load(path), str(tmp_path / "net.yaml"), force=False)
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-5


def test_every_truncation_and_byte_flip_is_refused_or_read(cli, tmp_path: Path) -> None:
    """A seeded fuzz of a real file: each damaged copy is read (the damage fell in a name or a
    number) or refused with one sentence; never a traceback."""
    import zipfile
    real = zipfile.ZipFile(onnx_fixture.ARCHIVE).read("squeezenet1_1.ts17.onnx")
    rng = random.Random(1)
    path = tmp_path / "damaged.onnx"
    for trial in range(60):
        data = bytearray(real)
        if trial % 2:
            data = data[:rng.randrange(len(data))]
        else:
            for _ in range(3):
                data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(bytes(data))
        code, _, err = cli("summary", str(path), "--format", "json")
        assert code in (0, 2), err
        assert "Traceback" not in err and (code == 0 or err.count("error: ") == 1)
