"""`shares: NAME`: a layer that uses an earlier layer's weights is counted once, marked in every
report, built as one tensor in torch, and refused with a located error where the two cannot
hold the same weights. (The random corpus of tests/test_random_specs.py writes `shares:` too,
so verify and the training-memory oracle check it on generated specs.)"""

from __future__ import annotations

import json

import pytest
import torch

import cnncli
from cnncli.layers import REGISTRY
from cnncli.model.verify import verify

SIAMESE = """
name: siamese
input: [3, 12, 12]
layers:
  - conv: {out: 8, kernel: 3, padding: 1, name: c1}
  - relu: {}
  - conv: {out: 8, kernel: 3, padding: 1, name: c2}
  - batchnorm: {name: bn}
  - conv: {out: 8, kernel: 3, padding: 2, dilation: 2, shares: c2, name: c3}
  - batchnorm: {shares: bn, name: bn2}
  - global_avgpool: {}
  - flatten: {}
  - linear: {out: 8, name: fc}
  - linear: {out: 8, shares: fc, name: fc2}
"""
C2 = 8 * 8 * 9 + 8  # the shared conv's weights and bias


def test_shared_weights_are_counted_once(write_spec) -> None:
    a = cnncli.analyze(write_spec(SIAMESE))
    rows = {r.path: r for r in a.root.walk()}
    assert [rows[p].params for p in ("c2", "c3", "bn", "bn2", "fc", "fc2")] == \
        [C2, 0, 16, 0, 72, 0]
    assert rows["bn2"].buffers == 0 and rows["c3"].trainable == 0
    assert rows["c3"].macs == rows["c2"].macs == 8 * 12 * 12 * 8 * 9  # work counts per use
    t = a.totals()
    assert t["params"] == t["trainable_params"] == 3 * 9 * 8 + 8 + C2 + 16 + 72
    assert t["buffers"] == 17


def test_the_model_holds_one_tensor_and_trains_it_for_both(write_spec) -> None:
    path = write_spec(SIAMESE)
    model = cnncli.build(path)
    assert model.c3.weight is model.c2.weight and model.c3.bias is model.c2.bias
    assert model.bn2.running_mean is model.bn.running_mean
    assert model.fc2.weight is model.fc.weight
    assert sum(p.numel() for p in model.parameters()) == cnncli.analyze(path).totals()["params"]
    assert {"c2.weight", "c3.weight"} <= set(model.state_dict())  # as torch lists a module
    # called twice; one SGD step moves the one tensor by both uses' gradients
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.randn(2, 3, 12, 12)).square().sum().backward()
    optimizer.step()
    assert torch.equal(model.c2.weight, model.c3.weight)
    assert verify(path).ok


def test_reports_mark_the_layers_that_share(cli, write_spec) -> None:
    path = write_spec(SIAMESE)
    code, out, _ = cli("summary", path, "--wide")
    assert code == 0
    c3 = next(line for line in out.splitlines() if line.split()[:2] == ["c3", "conv"])
    assert c3.split()[3] == "shared"
    assert "Shared weights      c3 uses c2's; bn2 uses bn's; fc2 uses fc's (counted once, " \
        "at the owner)" in out
    code, out, _ = cli("summary", path, "--format", "json")
    layers = {r["path"]: r for r in json.loads(out)["layers"]}
    assert layers["c3"]["shares"] == "c2" and layers["c3"]["params"] == 0
    assert "shares" not in layers["c2"]
    code, out, _ = cli("explain", path, "c3")
    assert "params = 0\n      it uses c2's 584 (8 · (8 · 3 · 3) + 8), counted there once" in out


@pytest.mark.parametrize("layers, said", [
    (["conv: {out: 8, kernel: 3, shares: nothere}"],
     "5:39: layer 1: shares: no earlier output is named 'nothere' here; the names this entry "
     "can read: c1, input"),
    (["conv: {out: 8, kernel: 3, shares: later}", "conv: {out: 8, kernel: 1, name: later}"],
     "5:39: layer 1: shares: 'later' is defined later (line 6); an entry reads outputs made "
     "before it (no cycles)"),
    (["layer_scale: {name: s1}", "flatten: {start: 1}", "layer_scale: {shares: s1}"],
     "7:27: layer 3: shares: layer_scale cannot use s1's weights: its input has 3 axes, this "
     "one's 2 (input 8x64), and the weights' shape follows them"),
    (["relu: {shares: c1}"],
     "5:20: layer 1: shares: relu has no weights to share (the layers that have: attention, "
     "batchnorm, conv, conv_transpose, layer_norm, layer_scale, linear, "
     "partition_attention, subsample, window_attention)"),
    (["global_avgpool", "flatten", "linear: {out: 4, shares: c1}"],
     "7:30: layer 3: shares: linear cannot use c1's weights: it is a conv, this is a linear"),
    (["conv: {out: 4, kernel: 3, shares: c1}"],
     "5:39: layer 1: shares: conv cannot use c1's weights: it reads 3 input channels, this one "
     "8 (input 8x8x8)"),
    (["conv: {out: 8, kernel: 3, bias: false, from: input, shares: c1}"],
     "5:65: layer 1: shares: conv cannot use c1's weights: bias is true there and false here "
     "(the weights' shapes depend on out, kernel, groups, bias, connections)"),
    (["conv: {out: 8, kernel: 3, from: input, shares: c1, name: b}",
      "conv: {out: 8, kernel: 3, from: input, shares: b}"],
     "6:52: layer 2: shares: 'b' uses c1's weights itself; name c1 (the layer that owns them)"),
    (["sequence: {name: s, layers: [relu]}", "conv: {out: 8, kernel: 3, shares: s}"],
     "6:39: layer 2: shares: 's' is a sequence, not a layer; name the layer whose weights "
     "this one uses"),
    (["conv: {out: 8, kernel: 3, shares: [c1]}"],
     "5:39: layer 1: shares: takes the name of an earlier layer, got ['c1']"),
])
def test_what_cannot_share_is_refused_where_it_is_written(cli, write_spec, layers: list[str],
                                                          said: str) -> None:
    text = "name: bad\ninput: [3, 10, 10]\nlayers:\n  - conv: {out: 8, kernel: 3, name: c1}\n"
    path = write_spec(text + "".join(f"  - {line}\n" for line in layers))
    code, out, err = cli("check", path)
    assert code == 2 and out == "" and "Traceback" not in err
    assert f"{path}:{said}" in " ".join(err.split())


@pytest.mark.parametrize("kind", sorted({c.name for c in REGISTRY.values()
                                         if c.weight_args is not None}))
def test_weight_args_are_all_the_weights_depend_on(kind: str) -> None:
    """Two layers of a type that agree on its weight_args and input channels hold weights
    of one shape whatever else they differ in: what `shares:` accepts, torch can tie."""
    variants = {
        "conv": [{"out": 6, "kernel": 3}, {"out": 6, "kernel": 3, "stride": 2, "padding": 1,
                                            "dilation": 2}],
        "conv_transpose": [{"out": 6, "kernel": 3},
                           {"out": 6, "kernel": 3, "stride": 2, "padding": 1,
                            "output_padding": 1, "dilation": 2}],
        "linear": [{"out": 6}, {"out": 6, "pointwise": True}],
        "batchnorm": [{}, {"eps": 1e-3, "momentum": 0.5}],
        "layer_norm": [{}, {"eps": 1e-6}],
        "layer_scale": [{}, {"init": 0.5}],
        "subsample": [{"kernel": 2}, {"kernel": 3, "stride": 1}],
        "attention": [{"heads": 1}, {"heads": 4}],
        "window_attention": [{"heads": 2, "window": 3}, {"heads": 2, "window": 3, "shift": 2}],
        "partition_attention": [{"heads": 2, "size": 3}, {"heads": 2, "size": 3, "grid": True}],
    }[kind]
    shapes = [(4,) if kind == "linear" and not v.get("pointwise") else
              (4, 9) if kind == "attention" else (4, 9, 9) for v in variants]
    built = [REGISTRY[kind].create(**v).build(s) for v, s in zip(variants, shapes)]
    first, other = ({k: t.shape for k, t in m.state_dict().items()} for m in built)
    assert first == other and first
