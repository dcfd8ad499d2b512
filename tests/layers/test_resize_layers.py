"""conv_transpose, upsample, pad and crop: their figures against torch, their errors, and a
small U-Net-like spec using them (with RegNet's `-` in names) built, verified and printed."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cnncli
from cnncli.errors import SpecError
from cnncli.layers import REGISTRY, ArgError, ShapeError
from cnncli.model.verify import verify


@pytest.mark.parametrize("options,shape", [
    ({"out": 4, "kernel": 2, "stride": 2}, (6, 5, 7)),
    ({"out": 4, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1}, (6, 5, 5)),
    ({"out": 6, "kernel": [3, 4], "stride": [3, 1], "padding": [2, 1], "dilation": [1, 2],
      "groups": 3, "bias": False}, (3, 4, 6)),
    ({"out": 2, "kernel": 5, "stride": 2, "padding": 4, "dilation": 3,
      "output_padding": 2}, (2, 3, 3)),
    ({"out": 2, "kernel": 4, "stride": 4, "padding": [1, 3]}, (1, 2, 3)),
])
def test_conv_transpose_counts_equal_torch(options: dict, shape: tuple) -> None:
    """Shape, params and FLOPs from torch; connections (each output's reads, summed) from
    a run with every weight and input 1 and no bias: each output is the number it reads."""
    layer = REGISTRY["conv_transpose"].create(**options)
    cost = layer.infer(shape)
    module = layer.build(shape)
    x = torch.ones(1, *shape)
    with FlopCounterMode(display=False) as counter:
        y = module(x)
    assert tuple(y.shape[1:]) == cost.output
    assert sum(p.numel() for p in module.parameters()) == cost.params
    assert counter.get_total_flops() == 2 * cost.macs
    plain = nn.ConvTranspose2d(shape[0], layer.out, layer.kernel, layer.stride, layer.padding,
                               layer.output_padding, layer.groups, False, layer.dilation)
    nn.init.ones_(plain.weight)
    bias = cost.output[0] * cost.output[1] * cost.output[2] if layer.bias else 0
    assert int(plain(x).sum().item()) + bias == cost.connections


@pytest.mark.parametrize("options,shape,output,ops", [
    ({}, (3, 5, 7), (3, 10, 14), 0),
    ({"scale": 1.5, "mode": "bilinear"}, (2, 5, 7), (2, 7, 10), 7 * 2 * 7 * 10),
    ({"scale": [0.29, 2], "mode": "nearest-exact"}, (1, 100, 3), (1, 28, 6), 0),
    ({"size": [4, 9], "mode": "bicubic", "align_corners": True}, (2, 3, 3), (2, 4, 9),
     31 * 2 * 4 * 9),
])
def test_upsample_shapes_equal_torch(options: dict, shape: tuple, output: tuple,
                                     ops: int) -> None:
    layer = REGISTRY["upsample"].create(**options)
    cost = layer.infer(shape)
    assert (cost.output, cost.other_ops, cost.macs) == (output, ops, 0)
    assert tuple(layer.build(shape)(torch.zeros(2, *shape)).shape[1:]) == output


def test_upsample_can_take_another_tensors_size() -> None:
    """What a later `like: NAME` gives: the size of another map, the mode kept."""
    layer = REGISTRY["upsample"].create(mode="bilinear", align_corners=False)
    like = layer.sized_like((64, 33, 17))
    assert (like.size, like.scale, like.mode) == ((33, 17), None, "bilinear")
    assert like.infer((8, 5, 5)).output == (8, 33, 17)


@pytest.mark.parametrize("padding,mode,torch_module", [
    (1, "zeros", "ZeroPad2d((1, 1, 1, 1))"),
    ([1, 2], "constant", "ZeroPad2d((2, 2, 1, 1))"),
    ([0, 1, 0, 1], "reflect", "ReflectionPad2d((0, 1, 0, 1))"),
    ([3, 0, 1, 2], "replicate", "ReplicationPad2d((3, 0, 1, 2))"),
    ([4, 4, 4, 4], "circular", "CircularPad2d((4, 4, 4, 4))"),
])
def test_pad_builds_torchs_own_modules(padding, mode: str, torch_module: str) -> None:
    layer = REGISTRY["pad"].create(padding=padding, mode=mode)
    cost = layer.infer((2, 4, 5))
    module = layer.build((2, 4, 5))
    assert repr(module) == torch_module
    assert tuple(module(torch.zeros(1, 2, 4, 5)).shape[1:]) == cost.output
    left, right, top, bottom = layer.padding
    assert cost.output == (2, 4 + top + bottom, 5 + left + right)


def test_a_constant_pad_value_builds_constantpad2d() -> None:
    module = REGISTRY["pad"].create(padding=[1, 0, 0, 0], value=-1).build((1, 2, 2))
    assert repr(module) == "ConstantPad2d(padding=(1, 0, 0, 0), value=-1.0)"
    assert module(torch.zeros(1, 1, 2, 2))[0, 0, :, 0].tolist() == [-1.0, -1.0]


def test_crop_takes_the_centre_as_a_u_nets_skip() -> None:
    layer = REGISTRY["crop"].create(size=[2, 3])
    x = torch.arange(5 * 6.0).view(1, 1, 5, 6)
    y = layer.build((1, 5, 6))(x)
    assert y.tolist() == [[[[7.0, 8.0, 9.0], [13.0, 14.0, 15.0]]]]  # rows 1-2, columns 1-3
    assert y.is_contiguous() and layer.infer((1, 5, 6)).output == (1, 2, 3)


@pytest.mark.parametrize("kind,options,shape,message", [
    ("crop", {"size": [6, 4]}, (3, 5, 5), "cannot crop 3x5x5 to 6x4: the size is larger "
                                          "than the input"),
    ("pad", {"padding": [0, 0, 5, 0], "mode": "reflect"}, (3, 5, 9),
     "reflect padding 5 along H must be smaller than the input's 5 (input 3x5x9)"),
    ("pad", {"padding": 6, "mode": "circular"}, (3, 5, 9),
     "circular padding 6 along H must be at most the input's 5 (input 3x5x9)"),
    ("upsample", {"scale": 0.1}, (3, 5, 9), "scale 0.1x0.1 gives an output of 0x0 from 5x9, "
                                            "below 1"),
    ("conv_transpose", {"out": 2, "kernel": 2, "padding": 2}, (3, 2, 2),
     "output H would be -1, below 1: padding 2 crops 2·2 from the 3 the 2 inputs spread "
     "over"),
    ("conv_transpose", {"out": 2, "kernel": 2, "groups": 2}, (3, 2, 2),
     "groups=2 must divide the 3 input channels"),
])
def test_shape_errors_name_the_shapes(kind: str, options: dict, shape: tuple,
                                      message: str) -> None:
    with pytest.raises(ShapeError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        REGISTRY[kind].create(**options).infer(shape)


@pytest.mark.parametrize("kind,options,message", [
    ("upsample", {"scale": 2, "size": 4}, "upsample: give scale or size, not both: the "
                                        "output is ⌊H·scale⌋, or size"),
    ("upsample", {"align_corners": True}, "upsample: align_corners applies to bilinear and "
                                          "bicubic, not nearest (PyTorch refuses it)"),
    ("upsample", {"mode": "linear"}, "upsample: mode must be one of nearest, nearest-exact, "
                                     "bilinear, bicubic, got 'linear'"),
    ("upsample", {"scale": [1, 2, 3]}, "upsample: scale must be one number or [h, w], got a "
                                       "list of 3"),
    ("upsample", {"scale": 0}, "upsample: scale must be above 0, got 0"),
    ("pad", {"padding": [1, 2, 3]}, "pad: padding must be one number or [ph, pw] or [left, "
                                    "right, top, bottom], got a list of 3"),
    ("pad", {"padding": -1}, "pad: padding must be at least 0, got -1"),
    ("pad", {"padding": 1, "mode": "reflect", "value": 2}, "pad: value fills the zeros "
                                                          "mode's border, not reflect's"),
    ("conv_transpose", {"out": 4, "kernel": 3, "stride": 2, "output_padding": 2},
     "conv_transpose: output_padding 2 must be smaller than the stride 2 or the dilation 1 "
     "(PyTorch's rule)"),
    ("conv_transpose", {"out": 3, "kernel": 3, "groups": 2},
     "conv_transpose: groups=2 must divide out=3"),
])
def test_bad_arguments_say_what_is_wrong(kind: str, options: dict, message: str) -> None:
    with pytest.raises(ArgError) as info:
        REGISTRY[kind].create(**options)
    assert str(info.value) == message


UNET = """
name: tiny_unet
input: [3, 20, 20]
layers:
  - conv: {name: enc-0, out: 8, kernel: 3}
  - relu
  - concat:
      name: level
      branches:
        skip-path: [crop: {size: 14}]
        down-path:
          - maxpool: {kernel: 2}
          - conv: {out: 16, kernel: 3, padding: 1}
          - conv_transpose: {name: up-conv, out: 8, kernel: 2, stride: 2}
          - pad: {padding: [0, 1, 0, 1], mode: replicate}
          - crop: {size: 14}
  - repeat: {count: 2, prefix: block1-, body: [conv: {out: 8, kernel: 3, padding: 1}, relu]}
  - upsample: {scale: 1.5, mode: bilinear, align_corners: false}
  - pad: {padding: 1, mode: reflect}
  - conv: {name: head, out: 2, kernel: 1}
"""


def test_a_unet_like_spec_builds_verifies_and_keeps_its_names(write_spec, cli) -> None:
    spec = write_spec(UNET)
    analysis = cnncli.analyze(spec)
    assert analysis.root.output == (2, 23, 23)
    model = cnncli.build(spec)
    keys = set(model.state_dict())
    assert {"enc-0.weight", "level.down-path.up-conv.weight", "3.block1-0.0.weight",
            "3.block1-1.0.bias", "head.weight"} <= keys
    assert isinstance(model.get_submodule("level.down-path.up-conv"), nn.ConvTranspose2d)
    assert isinstance(model.get_submodule("3.block1-1.0"), nn.Conv2d)
    result = verify(spec)
    assert all(c.ok for c in result.checks), [c.path for c in result.checks if not c.ok]
    code, out, _ = cli("summary", spec)
    assert code == 0
    for row in ("enc-0", "level.skip-path.0", "level.down-path.up-conv", "3.block1-0.0",
                "head"):
        assert f" {row} " in out


def test_a_transposed_conv_starts_from_kaiming_like_a_conv(write_spec) -> None:
    spec = write_spec("name: t\ninput: [64, 4, 4]\nlayers:\n"
                      "  - conv_transpose: {out: 64, kernel: 4, stride: 2, padding: 1}\n"
                      "  - relu\n")
    torch.manual_seed(0)
    weight = cnncli.build(spec).get_submodule("0").weight
    # fan_in of the (in, out, kh, kw) weight: 64 · 16 = 1024, so std = sqrt(2 / 1024)
    assert abs(weight.std().item() - (2 / 1024) ** 0.5) < 0.003
    assert cnncli.build(spec).get_submodule("0").bias.abs().sum().item() == 0


def test_a_crop_larger_than_its_input_is_located(write_spec) -> None:
    spec = write_spec("name: t\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 3}\n"
                      "  - crop: {size: [7, 6]}\n")
    with pytest.raises(SpecError) as info:
        cnncli.analyze(spec)
    assert "cannot crop 4x6x6 to 7x6: the size is larger than the input" in str(info.value)
    assert ":5:" in str(info.value)


def test_mode_words_are_taken_as_written_not_as_expressions(write_spec) -> None:
    spec = write_spec("name: t\ninput: [3, 8, 8]\nparams: {m: bicubic}\nlayers:\n"
                      "  - upsample: {mode: nearest-exact, scale: 2}\n"
                      "  - upsample: {mode: m, size: 4}\n"
                      "  - pad: {padding: 1, mode: constant}\n")
    rows = [r for r in cnncli.analyze(spec).root.walk() if r.is_layer]
    assert [r.layer.mode for r in rows] == ["nearest-exact", "bicubic", "zeros"]


@pytest.mark.parametrize("fmt", [pytest.param("onnx", marks=pytest.mark.slow),
                                 pytest.param("pt2", marks=pytest.mark.slow), "torchscript"])
def test_the_unet_like_spec_exports(write_spec, tmp_path, fmt: str) -> None:
    """The new modules and names with '-' export; the reloaded file computes what torch
    does (ONNX's bilinear resize differs in the last float bits)."""
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnxscript")
    from cnncli.model.export import export

    torch.manual_seed(0)
    result = export(cnncli.build(write_spec(UNET)).eval(), str(tmp_path / f"net.{fmt}"), fmt)
    assert result.max_abs_diff is not None and result.max_abs_diff < 1e-4


def test_upsampling_divides_the_jump_where_it_can(write_spec) -> None:
    """Down by 4, then up by 2 twice: the jump comes back to 1; a scale of 1.5 cannot
    divide a whole jump, which stays (the sizes after it are upper bounds)."""
    spec = write_spec("""
        name: t
        input: [1, 32, 32]
        layers:
          - conv: {out: 2, kernel: 3, stride: 2, padding: 1}
          - maxpool: {kernel: 2}
          - conv_transpose: {out: 2, kernel: 4, stride: 2, padding: 1}
          - upsample: {scale: 2, mode: bilinear}
          - upsample: {scale: 1.5}
          - conv: {out: 1, kernel: 3, padding: 1}
        """)
    rfs = [(r.rf.size, r.rf.jump) for r in cnncli.analyze(spec).root.walk() if r.is_layer]
    assert rfs == [((3, 3), (2, 2)), ((5, 5), (4, 4)),
                   ((9, 9), (2, 2)),    # 2 input positions per output: 5 + (2 − 1) · 4
                   ((11, 11), (1, 1)),  # bilinear reads 2 along each axis
                   ((11, 11), (1, 1)), ((13, 13), (1, 1))]
