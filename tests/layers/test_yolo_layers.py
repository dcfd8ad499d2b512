"""The layer types YOLOv8 adds (slice, flatten with `start`, yolo_decode) against torch on
the shapes they are for, and the zoo's yolov8 at other class counts and input sizes."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import cnncli
from cnncli.analysis.training import training_memory
from cnncli.layers import REGISTRY, ArgError, ShapeError
from cnncli.model.memory import saved_activation_bytes


def run(kind: str, shape: tuple[int, ...], x: torch.Tensor, **options):
    """The analysis's cost and torch's output and FLOPs for one layer."""
    layer = REGISTRY[kind].create(**options)
    cost = layer.infer(shape)
    module = layer.build(shape).eval()
    with FlopCounterMode(display=False) as counter:
        y = module(x)
    return cost, module, y, counter.get_total_flops()


def test_slice_is_a_view_of_the_channels() -> None:
    x = torch.randn(2, 6, 3, 3)
    cost, _, y, flops = run("slice", (6, 3, 3), x, start=2, stop=5)
    assert cost.output == tuple(y.shape[1:]) == (3, 3, 3) and flops == 0
    assert torch.equal(y, x[:, 2:5]) and y.untyped_storage().data_ptr() == x.data_ptr()
    assert (cost.params, cost.macs, cost.other_ops) == (0, 0, 0)
    with pytest.raises(ShapeError, match="stop 7 is past the 6 channels of 6x3x3"):
        REGISTRY["slice"].create(stop=7).infer((6, 3, 3))
    with pytest.raises(ArgError, match="start 3 must be below stop 3"):
        REGISTRY["slice"].create(start=3, stop=3)


def test_flatten_from_start_keeps_the_leading_axes() -> None:
    x = torch.randn(2, 5, 3, 4)
    cost, _, y, _ = run("flatten", (5, 3, 4), x, start=1)
    assert cost.output == tuple(y.shape[1:]) == (5, 12) and torch.equal(y, x.flatten(2))
    assert REGISTRY["flatten"].create().infer((5, 3, 4)).output == (60,)
    with pytest.raises(ShapeError, match="start 3 is past the last axis of 5x3x4"):
        REGISTRY["flatten"].create(start=3).infer((5, 3, 4))


def test_yolo_decode_counts_what_torch_does() -> None:
    grids, strides, reg_max = ((4, 6), (2, 3), (1, 2)), (8, 16, 32), 4
    anchors = 24 + 6 + 2
    x = torch.randn(3, 4 * reg_max + 5, anchors)
    cost, module, y, flops = run("yolo_decode", (21, anchors), x, reg_max=reg_max,
                                 strides=list(strides), grids=[list(g) for g in grids])
    assert cost.output == tuple(y.shape[1:]) == (9, anchors)
    assert cost.params == sum(p.numel() for p in module.parameters()) == reg_max
    assert not any(p.requires_grad for p in module.parameters())
    assert module.state_dict().keys() == {"conv.weight"}
    assert flops == 2 * cost.macs * 3 and cost.macs == 4 * reg_max * anchors
    assert cost.other_ops == 3 * 16 * anchors + 14 * anchors + 5 * anchors


def test_yolo_decode_by_hand() -> None:
    """Zeros: each side's bins equally likely, so every distance is (0 + 1) / 2 with
    reg_max 2; the boxes are 1x1 cells around (x + 0.5, y + 0.5), times the stride."""
    cost, _, y, _ = run("yolo_decode", (9, 2), torch.zeros(1, 9, 2), reg_max=2, strides=4,
                        grids=[[1, 2]])
    assert cost.output == (5, 2)
    assert y[0].tolist() == [[2.0, 6.0], [2.0, 2.0], [4.0, 4.0], [4.0, 4.0], [0.5, 0.5]]


@pytest.mark.parametrize("shape,message", [
    ((68, 5), "needs \\(4·reg_max \\+ classes\\) x anchors, more than 64 x 4"),
    ((64, 4), "more than 64 x 4 .* but gets 64x4"),
    ((68, 2, 2), "gets 68x2x2; concat the levels' flattened maps along axis -1"),
])
def test_yolo_decode_refuses_what_does_not_fit(shape: tuple, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        REGISTRY["yolo_decode"].create(strides=[8], grids=[[2, 2]]).infer(shape)
    with pytest.raises(ArgError, match="gives 2 strides for 1 grids; one stride per level"):
        REGISTRY["yolo_decode"].create(strides=[8, 16], grids=[[2, 2]])


def test_the_dfl_weights_survive_initialisation() -> None:
    """Every conv is initialised by the build, but not the DFL's fixed 0 … 15."""
    model = cnncli.build("yolov8n", input=(3, 64, 64))
    assert model.state_dict()["model.22.dfl.conv.weight"].flatten().tolist() == \
        [float(i) for i in range(16)]


# Measured with ultralytics 8.4.190 (DetectionModel('yolov8n.yaml', nc=20), FlopCounterMode
# / 2), as tests/fixtures/GRAPHS.md says.
@pytest.mark.parametrize("size,macs,output", [
    ((3, 640, 640), 4_051_584_000, (24, 8400)), ((3, 96, 160), 151_934_400, (24, 315))])
def test_classes_and_input_size_follow_ultralytics(size: tuple, macs: int,
                                                   output: tuple) -> None:
    a = cnncli.analyze("yolov8n", input=size, overrides={"classes": 20})
    assert (a.totals()["params"], a.totals()["macs"], a.output) == (3_014_748, macs, output)


@pytest.mark.slow
def test_training_memory_at_a_small_input_equals_autograd_on_cpu() -> None:
    a = cnncli.analyze("yolov8n", input=(3, 64, 64), batch=2)
    model = cnncli.build("yolov8n", input=(3, 64, 64))
    real = saved_activation_bytes(model, torch.zeros(2, 3, 64, 64))
    assert training_memory(a, device="cpu").saved_activation_bytes == real
