"""Predicted saved activations equal what autograd keeps (the saved_tensors_hooks oracle).

The zoo runs on the meta device: the same autograd formulas as CPU without memory or
arithmetic, so every zoo network at its real input size is checked at batch 1 (and one per
zoo file at batch 16) in seconds. A CPU run of small networks checks that meta and CPU agree;
bench/bench_train_memory.py sweeps the whole zoo on CPU.
"""

from __future__ import annotations

import math

import pytest
import torch
import yaml
from conftest import FAST_ZOO, by_family
from torch import nn

import cnncli
from cnncli.analysis.training import max_batch, training_memory
from cnncli.layers import LAYER_TYPES, Layer, Shape, ShapeError
from cnncli.model.memory import saved_activation_bytes
from cnncli.spec.zoo import zoo_entries

ZOO = sorted(zoo_entries())


def predicted(name: str, batch: int) -> int:
    analysis = cnncli.analyze(name, batch=batch)
    return training_memory(analysis, device="cpu").saved_activation_bytes


def measured(name: str, batch: int, device: str) -> int:
    analysis = cnncli.analyze(name, batch=batch)
    model = cnncli.build(name, device=device)
    return saved_activation_bytes(model, torch.zeros(batch, *analysis.input, device=device))


def smallest_training_batch(name: str) -> int:
    """2 where a batchnorm sees one value per channel at batch 1 (DeepLabV3's image-pooling
    branch: torch refuses to train it, 'Expected more than 1 value per channel'), else 1."""
    rows = cnncli.analyze(name).root.walk()
    return 2 if any(r.is_layer and r.kind == "batchnorm" and math.prod(r.output[1:]) == 1
                    for r in rows) else 1


# At batch 16 one network per zoo file (FAST_ZOO) is enough: the rule scales with the batch
# alike for every variant of a family, and the whole zoo at batch 1 checks every structure.
# The fast run checks batch 16 on a chain, a residual, a concat, a depthwise net and a graph.
BATCH16_FAST = {"lenet5", "resnet18", "googlenet", "mobilenet_v2", "unet"}


@pytest.mark.parametrize("name,batch", [
    *by_family([(n, 1) for n in ZOO]),
    *(pytest.param(n, 16, marks=() if n in BATCH16_FAST else pytest.mark.slow)
      for n in sorted(FAST_ZOO))])
def test_zoo_prediction_equals_autograd(name: str, batch: int) -> None:
    batch = max(batch, smallest_training_batch(name))
    assert predicted(name, batch) == measured(name, batch, "meta")


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "inception_bottleneck"])
def test_meta_oracle_equals_cpu(name: str) -> None:
    assert measured(name, 2, "cpu") == measured(name, 2, "meta") == predicted(name, 2)


def test_resnet50_batch8_golden() -> None:
    """ResNet-50 at batch 8, a figure to quote (torchinfo says 1,422.65 MB)."""
    assert predicted("resnet50", 8) == 682_671_616


def test_totals_by_optimizer() -> None:
    analysis = cnncli.analyze("lenet5", batch=4)
    params = 61_706 * 4
    for optimizer, copies in (("sgd", 0), ("sgd-momentum", 1), ("adam", 2), ("adamw", 2)):
        t = training_memory(analysis, optimizer)
        assert (t.param_bytes, t.grad_bytes, t.optimizer_bytes) == (params, params,
                                                                    copies * params)
        assert t.total_bytes == 2 * params + copies * params + t.saved_activation_bytes
        assert sum(t.saved_by_row.values()) == t.saved_activation_bytes


def test_max_batch_is_the_largest_that_fits() -> None:
    analysis = cnncli.analyze("resnet18")
    budget = 8 * 2**30
    n = max_batch(analysis, budget, "adam")
    fits = cnncli.analyze("resnet18", batch=n)
    over = cnncli.analyze("resnet18", batch=n + 1)
    assert training_memory(fits, "adam").total_bytes <= budget
    assert training_memory(over, "adam").total_bytes > budget
    assert max_batch(analysis, 1000) == 0


def test_every_layer_type_defines_its_rule() -> None:
    """A new layer type without a `saved` rule fails here (the base raises)."""
    for cls in LAYER_TYPES:
        assert cls.saved is not Layer.saved, f"{cls.name} has no saved-for-backward rule"


def probe(cls: type[Layer]) -> tuple[str, dict, Shape]:
    """A case for every registered type: its defaults, 2 for each required option (out,
    kernel, groups), on a map where it takes one, else on a vector, else on C x N, else on
    a map of 7x7 partitions."""
    args = {arg.name: 2 for arg in cls.args if arg.required}
    for shape in ((4, 9, 9), (6,), (70, 4), (4, 14, 14)):
        try:
            cls.create(**args).infer(shape)
        except ShapeError:
            continue
        return cls.name, args, shape
    raise AssertionError(f"{cls.name} takes neither a 4x9x9 map, a vector of 6, 70x4 nor "
                         "4x14x14")


CASES = [  # (type, args, input shape): each layer after a trainable conv, as in a network
    *map(probe, [c for c in LAYER_TYPES if c.priced]),  # onnx_op: no torch module
    ("conv", {"out": 5, "kernel": (3, 3)}, (4, 9, 9)),
    ("conv", {"out": 5, "kernel": (2, 2), "padding": "same"}, (4, 9, 9)),
    ("batchnorm", {}, (4, 9, 9)), ("batchnorm", {"affine": False}, (4, 9, 9)),
    ("lrn", {"size": 5}, (4, 9, 9)), ("lrn", {"size": 2}, (6, 5, 5)),
    ("maxpool", {"kernel": (3, 3), "stride": (2, 2)}, (4, 9, 9)),
    ("avgpool", {"kernel": (2, 2)}, (4, 9, 9)),
    ("adaptive_avgpool", {"size": (3, 3)}, (4, 9, 9)), ("global_avgpool", {}, (4, 9, 9)),
    ("dropout", {"p": 0.5}, (4, 9, 9)), ("dropout", {"p": 0.0}, (4, 9, 9)),
    ("flatten", {}, (4, 9, 9)),
    *[(name, {}, (4, 9, 9)) for name in ("relu", "relu6", "leaky_relu", "tanh", "sigmoid",
                                          "gelu", "silu", "softmax", "scaled_tanh",
                                          "hardswish", "hardsigmoid")],
    ("layer_norm", {}, (4, 9, 9)), ("layer_norm", {"affine": False}, (4, 9, 9)),
    ("layer_norm", {}, (7,)), ("layer_scale", {}, (4, 9, 9)),
    ("drop_path", {"p": 0.2}, (4, 9, 9)), ("drop_path", {"p": 0.0}, (4, 9, 9)),
    ("channel_shuffle", {"groups": 2}, (4, 9, 9)),
    ("linear", {"out": 6, "pointwise": True}, (4, 9, 9)),
    ("subsample", {"kernel": (2, 2)}, (4, 8, 8)),
    ("conv", {"out": 3, "kernel": (3, 3), "connections": [[0, 1], [2], [1, 3]]}, (4, 9, 9)),
    ("conv", {"out": 3, "kernel": (3, 3), "connections": [[0, 1], [2, 3], [1]]}, (4, 9, 9)),
    ("conv_transpose", {"out": 6, "kernel": (2, 2), "stride": (2, 2)}, (4, 9, 9)),
    ("conv_transpose", {"out": 4, "kernel": (3, 3), "stride": (2, 2), "padding": (1, 1),
                        "output_padding": (1, 1), "groups": 2, "bias": False}, (4, 9, 9)),
    *[("upsample", {"scale": 2, "mode": mode}, (4, 9, 9))
      for mode in ("nearest", "nearest-exact", "bilinear", "bicubic")],
    ("upsample", {"size": (5, 13), "mode": "bilinear", "align_corners": True}, (4, 9, 9)),
    *[("pad", {"padding": (0, 1, 0, 1), "mode": mode}, (4, 9, 9))
      for mode in ("zeros", "reflect", "replicate", "circular")],
    ("pad", {"padding": 2, "value": 1.5}, (4, 9, 9)),
    ("crop", {"size": (5, 6)}, (4, 9, 9)), ("crop", {"size": (9, 9)}, (4, 9, 9)),
    ("slice", {"start": 1, "stop": 3}, (4, 9, 9)), ("flatten", {"start": 1}, (4, 9, 9)),
    ("yolo_decode", {"reg_max": 4, "strides": [8, 16], "grids": [[2, 3], [1, 2]]}, (19, 8)),
    ("attention", {"heads": 1}, (8, 5)), ("attention", {"heads": 4, "bias": False}, (8, 5)),
    ("window_attention", {"heads": 2, "window": 4, "shift": 2}, (4, 9, 7)),
    ("window_attention", {"heads": 1, "window": 3}, (4, 3, 3)),
    ("partition_attention", {"heads": 2, "size": 3, "grid": True}, (4, 6, 9)),
    ("partition_attention", {"heads": 1, "size": 3}, (4, 3, 3)),
    ("patch_merge", {}, (4, 9, 7)), ("class_token", {}, (8, 5)),
    ("position_embedding", {}, (8, 5)), ("token", {"index": 2}, (8, 5)),
]


@pytest.mark.parametrize("name,args,shape", CASES, ids=str)
def test_layer_rule_matches_autograd(tmp_path, name: str, args: dict, shape: tuple) -> None:
    """A trainable 1x1 conv, then the layer (so its input requires grad, as in a network):
    the prediction equals what autograd keeps, on CPU."""
    first = [{"conv": {"out": shape[0], "kernel": 1}}] if len(shape) != 1 else \
        [{"linear": {"out": shape[0]}}]
    if len(shape) == 2:  # C x N: a map's positions in a row
        first.append({"flatten": {"start": 1}})
    layers = [*first,
              {name: {k: _listed(v) for k, v in args.items()}}]
    given = [*shape, 1] if len(shape) == 2 else list(shape)
    spec = {"name": "probe", "input": given, "layers": layers}
    path = tmp_path / "probe.yaml"
    path.write_text(yaml.safe_dump(spec))
    analysis = cnncli.analyze(str(path), batch=3)
    model = cnncli.build(str(path))
    real = saved_activation_bytes(model, torch.zeros(3, *given))
    assert training_memory(analysis, device="cpu").saved_activation_bytes == real


def _listed(value: object) -> object:
    """Tuples (pairs, lists of pairs) as the lists YAML writes."""
    return [_listed(v) for v in value] if isinstance(value, (tuple, list)) else value


def test_rbf_rule_matches_autograd(tmp_path) -> None:
    path = tmp_path / "rbf.yaml"
    path.write_text("name: r\ninput: [6]\nlayers:\n  - linear: {out: 12}\n  - rbf: {out: 5}\n")
    real = saved_activation_bytes(cnncli.build(str(path)), torch.zeros(3, 6))
    analysis = cnncli.analyze(str(path), batch=3)
    assert training_memory(analysis, device="cpu").saved_activation_bytes == real


def test_frozen_first_layer_keeps_nothing() -> None:
    conv = nn.Conv2d(1, 2, 3)
    conv.requires_grad_(False)
    assert saved_activation_bytes(conv, torch.zeros(1, 1, 5, 5)) == 0


def test_summary_train_json_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    """summary --train: the JSON totals, per-layer shares adding up, and --max-batch."""
    import json

    from conftest import run_cli

    code, out, _ = run_cli(["summary", "resnet50", "--batch", "8", "--train", "--optimizer",
                            "adam", "--max-batch", "8GiB", "-f", "json"], capsys)
    assert code == 0
    t = json.loads(out)["training"]
    assert t["saved_activation_bytes"] == 682_671_616
    assert t["param_bytes"] == t["grad_bytes"] == 102_228_128
    assert t["optimizer_bytes"] == 2 * 102_228_128
    assert t["total_bytes"] == 1_091_797_032
    layers = json.loads(out)["layers"]
    assert sum(r["saved_bytes"] for r in layers) == t["saved_activation_bytes"]
    assert t["max_batch"] == {"budget_bytes": 8 * 2**30, "batch": 95}
    code, out, _ = run_cli(["summary", "resnet50", "--batch", "8", "--train"], capsys)
    assert code == 0 and "651.05 MiB (682,671,616 bytes" in out
    code, out, err = run_cli(["summary", "lenet5", "--train", "--max-batch", "8XB"], capsys)
    assert code == 2 and "--max-batch takes a memory size" in err
    assert "Traceback" not in out + err


def test_cat_of_one_channel_maps_follows_their_strides(tmp_path) -> None:
    """A one-channel map made channels-last (a pointwise linear) has channels-last strides
    though its order is not distinct: torch.cat keeps them, so the shuffle after the cat
    copies, and the conv beside it keeps the cat's own output."""
    spec = tmp_path / "cat1.yaml"
    spec.write_text(
        "name: cat1\ninput: [6, 4, 4]\nlayers:\n"
        "  - concat: {branches: [[linear: {out: 1, pointwise: true}],\n"
        "                        [linear: {out: 2, pointwise: true}]]}\n"
        "  - concat: {branches: [[conv: {out: 3, kernel: 1}],\n"
        "                        [channel_shuffle: {groups: 3}, gelu]]}\n")
    for batch in (1, 2):
        assert predicted(str(spec), batch) == measured(str(spec), batch, "cpu")
