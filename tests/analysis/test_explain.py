"""`cnncli explain`: every figure it prints is the analyzer's, and its formula evaluates to it."""

from __future__ import annotations

import json
import re

import pytest
from conftest import GOLDEN, matches_golden

from cnncli.analysis.analyze import analyze
from cnncli.analysis.explain import Context
from cnncli.analysis.report import layer_record
from cnncli.layers import LAYER_TYPES, REGISTRY
from cnncli.layers.base import Layer
from cnncli.spec.zoo import zoo_entries

# figure name -> where the summary has the same number
SUMMARY_FIELD = {
    "params": lambda r: r["params"], "MACs": lambda r: r["macs"],
    "FLOPs": lambda r: r["flops"], "other ops": lambda r: r["other_ops"],
    "activations": lambda r: r["activations"], "buffers": lambda r: r["buffers"],
    "receptive field": lambda r: r["rf"][0], "receptive field H": lambda r: r["rf"][0],
    "receptive field W": lambda r: r["rf"][1], "RF stride": lambda r: r["rf_stride"][0],
    "RF stride H": lambda r: r["rf_stride"][0], "RF stride W": lambda r: r["rf_stride"][1],
    "output H = W": lambda r: r["output"][1], "output H": lambda r: r["output"][1],
    "output W": lambda r: r["output"][2], "output features": lambda r: r["output"][0],
    "output channels": lambda r: r["output"][0], "connections": lambda r: r["connections"],
    "output axis 1": lambda r: r["output"][1], "output axis 2": lambda r: r["output"][2],
    "anchors": lambda r: r["output"][1], "output tokens": lambda r: r["output"][1],
}


def evaluate(formula: str) -> int:
    """A formula as explain prints it (·, −, ⌊⌋, ⌈⌉, 1,234) evaluated in integers."""
    text = re.sub(r"(?<=\d),(?=\d{3})", "", formula).replace("·", "*").replace("−", "-")
    text = re.sub(r"⌈([^⌉]*) / (\d+)⌉", r"(-(-(\1) // \2))", text)
    text = text.replace("⌊", "(").replace("⌋", ")").replace(" / ", " // ")
    assert re.fullmatch(r"[\d\s()+\-*/]*", text), formula
    return eval(text)  # noqa: S307 - digits and operators only, checked above


def check_figures(spec: str, **kw) -> int:
    a = analyze(spec, **kw)
    ctx, count = Context(a), 0
    for row in a.root.walk():
        if not row.path:
            continue
        record = layer_record(row, 1)
        for f in ctx.figures(row):
            assert f.name in SUMMARY_FIELD, f"{row.path}: unknown figure {f.name!r}"
            assert f.value == SUMMARY_FIELD[f.name](record), (row.path, f)
            assert evaluate(f.formula) == f.value, (row.path, f)
            count += 1
    return count


@pytest.mark.parametrize("name", sorted(zoo_entries()))
def test_every_zoo_figure_is_the_summarys_and_its_formula_holds(name: str) -> None:
    assert check_figures(name) > 0


def test_every_layer_type_explains_itself() -> None:
    for cls in LAYER_TYPES:
        assert cls.explain is not Layer.explain, cls.name


EVERY_KIND = """
name: kinds
input: [8, 13, 13]
layers:
  - conv: {name: same, out: 8, kernel: 4, padding: same, bias: false}
  - conv: {name: dw, out: 8, kernel: 3, padding: 1, groups: 8}
  - conv: {name: grouped, out: 16, kernel: 3, padding: 2, dilation: 2, groups: 2}
  - conv: {name: wide, out: 16, kernel: [1, 3], stride: [1, 2], padding: [0, 1]}
  - batchnorm: {name: bn}
  - lrn: {name: lrn, size: 3}
  - leaky_relu: {name: act}
  - maxpool: {name: ceil, kernel: 3, stride: 2, padding: 1, ceil_mode: true}
  - avgpool: {name: avg, kernel: 2, stride: 1}
  - residual:
      name: res
      layers:
        - conv: {out: 24, kernel: 3, padding: 1}
      shortcut: auto
  - concat:
      name: cat
      branches:
        a: [{conv: {out: 4, kernel: 1}}]
        b: [{maxpool: {kernel: 3, stride: 1, padding: 1}}, {conv: {out: 4, kernel: 1}}]
  - conv_transpose: {name: up, out: 6, kernel: 3, stride: 2, padding: 1, output_padding: 1}
  - upsample: {name: bilinear, scale: 1.5, mode: bilinear, align_corners: true}
  - upsample: {name: nearest, size: [9, 10]}
  - pad: {name: pad, padding: [0, 1, 2, 3], mode: reflect}
  - crop: {name: crop, size: [7, 8]}
  - adaptive_avgpool: {name: adaptive, size: 2}
  - global_avgpool: {name: gap}
  - flatten: {name: flat}
  - dropout: {name: drop, p: 0.2}
  - linear: {name: fc, out: 5}
  - softmax: {name: prob}
"""


def test_every_kind_of_layer_and_composite(write_spec) -> None:
    spec = write_spec(EVERY_KIND)
    assert check_figures(spec) > 60


def test_ceil_mode_drops_a_window_that_starts_in_the_padding() -> None:
    pool = REGISTRY["maxpool"].create(kernel=2, stride=2, padding=1, ceil_mode=True)
    cost = pool.infer((1, 5, 5))
    out = pool.explain((1, 5, 5), cost)[0]
    assert (out.name, out.formula, out.value) == ("output H = W", "⌈(5 + 2·1 − 2) / 2⌉ + 1 − 1", 3)
    assert evaluate(out.formula) == cost.output[1]


def test_the_alexnet_conv1_example(cli) -> None:
    code, out, _ = cli("explain", "alexnet", "conv1")
    assert code == 0
    for line in ("output H = W = ⌊(227 + 2·0 − 11) / 4⌋ + 1 = 55",
                 "params = 96 · (3 · 11 · 11) + 96 = 34,944",
                 "MACs = 96 · 55 · 55 · (3 · 11 · 11) = 105,415,200",
                 "receptive field = 1 + (11 − 1) · 1 = 11", "RF stride = 1 · 4 = 4"):
        assert f"  {line}\n" in out


def test_notes_cover_grouped_depthwise_same_dilated_and_ceil(cli, write_spec) -> None:
    spec = write_spec(EVERY_KIND)
    code, out, _ = cli("explain", spec, "same", "dw", "grouped", "ceil", "res", "cat.(concat)")
    assert code == 0, out
    assert 'padding "same" keeps the size at stride 1' in out and "1 before and 2 after" in out
    assert "output H = W = ⌊(13 + 1 + 2 − 4) / 1⌋ + 1 = 13" in out
    assert "depthwise (groups = input channels = 8): each filter sees one channel" in out
    assert "2 groups: each filter sees 8 / 2 = 4 channels" in out
    assert "dilation spreads the kernel: it spans 2·(3 − 1) + 1 = 5" in out
    assert "output H = ⌈(13 + 2·1 − 3) / 2⌉ + 1 = 7" in out
    assert "the body maps 16x6x3 to 24x6x3, so the input cannot be added as it is" in out
    assert "output channels = 4 + 4 = 8" in out


def test_design_notes_with_the_networks_numbers(cli) -> None:
    _, out, _ = cli("explain", "inception_bottleneck")
    assert "directly on compare.reduced.reduce1x1's input (480x14x14): 112,896,000 MACs" in out
    assert "1,505,280 + 3,763,200 = 5,268,480 MACs (21.4x fewer)" in out
    _, out, _ = cli("explain", "vgg16")
    assert "3 stacked 3x3 convs see 7x7 input pixels" in out
    _, out, _ = cli("explain", "resnet18")
    assert ("layer2.0: the body maps 64x56x56 to 128x28x28 (channels 64 → 128, stride 2)"
            in out)


def test_explain_json_and_a_bad_path(cli) -> None:
    code, out, _ = cli("explain", "lenet5", "c1", "-f", "json")
    doc = json.loads(out)
    assert doc["schema"] == "cnncli.explain/1"
    params = next(f for f in doc["rows"][0]["figures"] if f["name"] == "params")
    assert params == {"name": "params", "formula": "6 · (1 · 5 · 5) + 6", "value": 156,
                      "note": "each filter sees every input channel, plus one bias per filter"}
    code, out, err = cli("explain", "alexnet", "cnv1")
    assert code == 2 and out == ""
    assert err == ("error: alexnet has no layer 'cnv1' (did you mean 'conv1'?); "
                   "`cnncli summary` lists the paths\n")


@pytest.mark.parametrize("name,args", [
    ("explain_alexnet_conv1_conv2", ["explain", "alexnet", "conv1", "conv2"]),
    ("explain_inception_bottleneck", ["explain", "inception_bottleneck"]),
])
def test_golden_explain(cli, monkeypatch, name: str, args: list[str]) -> None:
    monkeypatch.chdir(GOLDEN.parent.parent)  # spec files are shown relative to the folder
    code, out, _ = cli(*args)
    assert code == 0
    assert matches_golden(name, out)
