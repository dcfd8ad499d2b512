"""The constructs modern CNNs need: a block's input shape in its expressions, gates,
split concats, inline composites, conditional and renamed shortcuts, numbered names.
Each is checked three ways: the analyzer's figures, the built torch model (its outputs,
keys and verify), and the error a misuse gets."""

from __future__ import annotations

import pytest
import torch

import cnncli
from cnncli.analysis.training import training_memory
from cnncli.errors import SpecError
from cnncli.model.memory import saved_activation_bytes
from cnncli.model.verify import verify

NET = """
name: modern
input: [8, 8, 8]
blocks:
  se:
    params: {ratio: 4}
    gate:
      layers:
        - global_avgpool: {name: avgpool}
        - conv: {name: fc1, out: in_channels // ratio, kernel: 1}
        - relu: {name: activation}
        - conv: {name: fc2, out: in_channels, kernel: 1}
        - hardsigmoid: {name: scale_activation}
  fire:
    params: {s: ~, e: ~}
    layers:
      - conv: {name: squeeze, out: s, kernel: 1}
      - relu: {name: squeeze_activation}
      - concat:
          inline: true
          branches:
            expand1x1: {conv: {out: e, kernel: 1}}
            expand3x3: {conv: {out: e, kernel: 3, padding: 1}}
          after: [relu: {name: expand_activation}]
  inverted:
    params: {out: ~, stride: 1, t: 2}
    residual:
      layers:
        - conv: {name: expand, out: in_channels * t, kernel: 1}
        - conv: {name: dw, out: in_channels * t, kernel: 3, stride: stride, padding: 1,
                 groups: in_channels * t}
        - conv: {name: project, out: out, kernel: 1}
      shortcut: "'identity' if stride == 1 and in_channels == out else 'none'"
  shuffle_unit:
    concat:
      split: true
      branches:
        branch1: []
        branch2: [conv: {out: in_channels // 2, kernel: 1}, relu]
      after: [channel_shuffle: {groups: 2, name: shuffle}]
layers:
  - conv: {out: 16, kernel: 3, padding: 1}
  - se
  - fire: {s: 4, e: 8}
  - inverted: {out: 16}
  - inverted: {out: 24, stride: 2}
  - shuffle_unit
  - sequence:
      name: head
      layers:
        - sequence: {inline: true, layers: [layer_norm, gelu]}
        - linear: {out: 6, pointwise: true}
        - layer_scale: {name: gamma, init: 0.5}
        - drop_path: {p: 0.1}
"""


@pytest.fixture
def net(write_spec) -> str:
    return write_spec(NET)


def rows(spec: str) -> dict[str, tuple[str, tuple[int, ...], int, int, int]]:
    a = cnncli.analyze(spec)
    return {r.path: (r.kind, r.output, r.params, r.macs, r.other_ops) for r in a.root.walk()
            if r.is_leaf}


def test_block_input_shape_names_and_gate_figures(net: str) -> None:
    r = rows(net)
    assert r["1.fc1"] == ("conv", (4, 1, 1), 16 * 4 + 4, 64, 4)  # in_channels // 4 = 4
    assert r["1.fc2"][1] == (16, 1, 1)
    assert r["1.(mul)"] == ("mul", (16, 8, 8), 0, 0, 16 * 8 * 8)  # one multiply per element
    assert r["3.expand"][1] == (32, 8, 8)  # in_channels * t


def test_conditional_shortcut(net: str) -> None:
    r = rows(net)
    assert "3.(add)" in r  # stride 1 and 16 -> 16: identity
    assert not any(p.startswith("4.(add)") for p in r)  # stride 2: no residual at all
    kinds = {row.path: row.kind for row in cnncli.analyze(net).root.walk()}
    assert kinds["4"] == "inverted"


def test_inline_and_split_names(net: str) -> None:
    r = rows(net)
    assert {"2.squeeze", "2.expand1x1", "2.expand3x3", "2.expand_activation"} <= set(r)
    assert r["5.branch2.0"][1] == (12, 4, 4)  # half of 24 channels each
    assert r["5.(concat)"][1] == (24, 4, 4)
    assert r["5.shuffle"][1] == (24, 4, 4)
    assert {"head.0", "head.1", "head.2", "head.gamma", "head.4"} <= set(r)  # numbered on
    model = cnncli.build(net, device="meta")
    keys = set(model.state_dict())
    assert {"1.fc1.weight", "2.expand1x1.weight", "5.branch2.0.weight", "head.0.weight",
            "head.2.weight", "head.gamma.scale"} <= keys
    assert tuple(model.state_dict()["head.2.weight"].shape) == (6, 24)  # a Linear's weight


def test_built_model_computes_what_the_spec_says(net: str) -> None:
    torch.manual_seed(0)
    model = cnncli.build(net).eval()
    x = torch.randn(2, 8, 8, 8)
    m = model
    y = m.get_submodule("0")(x)
    g = m.get_submodule("1.avgpool")(y)
    g = m.get_submodule("1.scale_activation")(m.get_submodule("1.fc2")(
        torch.relu(m.get_submodule("1.fc1")(g))))
    y = y * g  # the gate
    s = torch.relu(m.get_submodule("2.squeeze")(y))
    y = torch.relu(torch.cat([m.get_submodule("2.expand1x1")(s),
                              m.get_submodule("2.expand3x3")(s)], 1))
    y = y + m.get_submodule("3.project")(m.get_submodule("3.dw")(m.get_submodule("3.expand")(y)))
    y = m.get_submodule("4.project")(m.get_submodule("4.dw")(m.get_submodule("4.expand")(y)))
    a, b = y.chunk(2, dim=1)
    y = torch.cat([a, torch.relu(m.get_submodule("5.branch2.0")(b))], 1)
    y = y.view(2, 2, 12, 4, 4).transpose(1, 2).reshape(2, 24, 4, 4)  # channel shuffle
    y = torch.nn.functional.gelu(torch.nn.functional.layer_norm(
        y.permute(0, 2, 3, 1), (24,), m.get_submodule("head.0").weight,
        m.get_submodule("head.0").bias).permute(0, 3, 1, 2))
    lin = m.get_submodule("head.2")
    y = (y.permute(0, 2, 3, 1) @ lin.weight.T + lin.bias).permute(0, 3, 1, 2) * 0.5
    assert torch.allclose(model(x), y, atol=1e-5)


def test_static_figures_and_memory_equal_torch(net: str) -> None:
    result = verify(net)
    assert all(c.ok for c in result.checks), [c.path for c in result.checks if not c.ok]
    a = cnncli.analyze(net, batch=3)
    real = saved_activation_bytes(cnncli.build(net), torch.zeros(3, 8, 8, 8))
    assert training_memory(a, device="cpu").saved_activation_bytes == real


@pytest.mark.parametrize("body,words", [
    ("  - conv: {out: 6, kernel: 1}\n  - gate: {layers: [conv: {out: 3, kernel: 1}]}\n",
     "gate: its layers give 3x4x4 for an input of 6x4x4; a gate must give 6x1x1"),
    ("  - conv: {out: 5, kernel: 1}\n  - concat: {split: true, branches: [[], []]}\n",
     "concat split: 5 input channels do not split into 2 equal shares"),
    ("  - relu: {inline: true}\n", "inline applies to composites and blocks, not to a layer"),
    ("  - relu: {name: -1}\n", "name must be a plain name (letters, digits, _ and -, "
                               "starting with a letter or _) or a whole number, got -1"),
    ("  - relu: {name: a.b}\n", "name must be a plain name (letters, digits, _ and -, "
                                "starting with a letter or _) or a whole number, got 'a.b'"),
    ("  - relu: {name: 'a b'}\n", "or a whole number, got 'a b'"),
    ("  - relu: {name: -a}\n", "or a whole number, got '-a'"),
    ("  - residual: {layers: [relu], shortcut: sometimes}\n",
     "shortcut must be auto, identity, none, a list of layers, or an expression giving one "
     "of those words, got 'sometimes'"),
    ("  - conv: {out: in_channels, kernel: 1}\n", "unknown name 'in_channels'"),
    ("  - sequence: {layers: [relu: {name: a}, {sequence: {inline: true,\n"
     "                                                   layers: [relu: {name: a}]}}]}\n",
     "name 'a' is used twice"),
])
def test_misuse_is_a_located_error(write_spec, body: str, words: str) -> None:
    spec = write_spec("name: t\ninput: [3, 4, 4]\nlayers:\n" + body)
    with pytest.raises(SpecError) as info:
        cnncli.analyze(spec)
    assert words in str(info.value)
    assert info.value.mark is not None and info.value.mark.line >= 4


def test_shape_names_are_not_block_parameters(write_spec) -> None:
    spec = write_spec("name: t\ninput: [3, 4, 4]\nblocks:\n  b:\n    params: {in_channels: 3}\n"
                      "    layers: [relu]\nlayers: [b]\n")
    with pytest.raises(SpecError, match="clashes with the name a block's input shape has"):
        cnncli.analyze(spec)


def test_renamed_shortcut_and_flat_input_names(write_spec) -> None:
    spec = write_spec("""
        name: t
        input: [10]
        blocks:
          mlp:
            residual:
              layers: [linear: {name: fc, out: in_features * 2}, linear: {out: 4}]
              shortcut: [linear: {out: 4}]
              shortcut_name: proj
        layers: [mlp]
        """)
    keys = set(cnncli.build(spec, device="meta").state_dict())
    assert keys == {"0.fc.weight", "0.fc.bias", "0.1.weight", "0.1.bias", "0.proj.0.weight",
                    "0.proj.0.bias"}
    assert cnncli.analyze(spec).root.children[0].children[0].output == (20,)


def test_no_reduction_lesson_for_a_projection_before_a_depthwise_conv(write_spec) -> None:
    """MBConv's 1x1 projection followed by the next block's depthwise conv is not GoogLeNet's
    1x1 reduction (and re-running the grouped conv on the wider input would not even fit)."""
    from cnncli.analysis.lessons import reductions

    spec = write_spec("name: t\ninput: [40, 8, 8]\nlayers:\n  - conv: {out: 24, kernel: 1}\n"
                      "  - conv: {out: 24, kernel: 3, padding: 1, groups: 24}\n")
    assert reductions(cnncli.analyze(spec)) is None
    lesson = reductions(cnncli.analyze("googlenet"))
    assert lesson is not None and lesson.title == "A 1x1 reduction before a larger conv"


@pytest.mark.parametrize("fmt", [pytest.param("onnx", marks=pytest.mark.slow),
                                 pytest.param("pt2", marks=pytest.mark.slow), "torchscript"])
def test_the_new_constructs_export(net: str, tmp_path, fmt: str) -> None:
    """Gate, split concat, channel shuffle, layer norm over channels, pointwise linear,
    layer scale and drop path all export, and the reloaded file computes what torch does
    (export checks the file against the model itself: onnxruntime, torch.export.load or
    torch.jit.load)."""
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnxscript")
    from cnncli.model.export import export

    torch.manual_seed(0)
    result = export(cnncli.build(net).eval(), str(tmp_path / f"net.{fmt}"), fmt)
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-5


def test_an_inline_block_whose_body_is_a_repeat_numbers_its_layers_flat(write_spec) -> None:
    spec = write_spec("""
        name: t
        input: [3, 8, 8]
        blocks:
          convs:
            params: {n: ~}
            repeat: {count: n, body: [conv: {out: 4, kernel: 3, padding: 1}, relu]}
        layers:
          - sequence:
              name: features
              layers:
                - convs: {inline: true, n: 2}
                - maxpool: {kernel: 2}
        """)
    keys = list(cnncli.build(spec, device="meta").state_dict())
    assert keys == ["features.0.weight", "features.0.bias", "features.2.weight",
                    "features.2.bias"]
    paths = [r.path for r in cnncli.analyze(spec).root.walk() if r.is_layer]
    assert paths == ["features.0", "features.1", "features.2", "features.3", "features.4"]


def test_repeat_names_count_kept_items_and_empty_inline_repeats_add_no_rows(write_spec) -> None:
    """`when` drops items before they are named (unit1, unit2, not unit2, unit3); an inline
    repeat left empty adds no row (two of them once gave two rows named 0--1)."""
    spec = write_spec("""
        name: t
        input: [3, 8, 8]
        layers:
          - repeat: {count: 3, var: k, prefix: unit, start: 1,
                     body: {conv: {out: 3, kernel: 3, padding: 1, when: "k > 0"}}}
          - repeat: {count: 1, inline: true, body: [conv: {out: 3, kernel: 1, when: "false"}]}
          - repeat: {count: 0, inline: true, body: [relu]}
          - repeat: {count: 0, inline: true, body: [relu]}
          - relu
        """)
    rows = [r.path for r in cnncli.analyze(spec).root.walk() if r.is_leaf]
    assert rows == ["0.unit1", "0.unit2", "1"]
    assert verify(spec).first_disagreement() is None
