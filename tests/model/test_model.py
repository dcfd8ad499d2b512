"""The built torch model equals the analysis: every zoo spec, generated specs (hypothesis),
names, initialisation, freezing, and the verify/export commands."""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from conftest import by_family
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from zoo_figures import GOLDEN

import cnncli
from cnncli.errors import SpecError
from cnncli.model.verify import verify
from cnncli.spec.zoo import zoo_entries


@pytest.mark.parametrize("name", by_family(sorted(zoo_entries())))
def test_zoo_verifies_on_meta(name: str) -> None:
    result = verify(name, batch=2, device="meta")
    assert result.ok, result.first_disagreement()
    model = result.checks[-1]
    if name in GOLDEN:
        assert model.measured["params"] == GOLDEN[name][0]
        assert model.measured["flops"] == 2 * 2 * GOLDEN[name][1]  # batch 2


@pytest.mark.parametrize("name,shape", [
*(pytest.param(name, shape, marks=() if name in {"lenet5", "resnet18", "inception_bottleneck"}
                else pytest.mark.slow)  # the fast run: a chain, a residual, a concat
      for name, shape in [("lenet5", "1x32x32"), ("resnet18", "3x64x64"),
                          ("resnet50", "3x64x64"), ("googlenet_tv", "3x64x64"),
                          ("googlenet", "3x64x64"), ("alexnet_tv", "3x64x64"),
                          ("inception_bottleneck", "480x14x14")]),
])
def test_forward_backward_on_cpu(name: str, shape: str) -> None:
    torch.manual_seed(0)
    result = verify(name, input=shape, batch=2, device="cpu")
    assert result.ok, result.first_disagreement()
    model = cnncli.build(name, input=shape)
    x = torch.randn(2, *map(int, shape.split("x")))
    y = model(x)
    y.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_state_dict_keys_read_like_the_spec() -> None:
    keys = set(cnncli.build("resnet50", device="meta").state_dict())
    assert "layer3.2.conv1.weight" in keys
    assert "layer1.0.downsample.0.weight" in keys  # the automatic projection
    assert "layer1.0.downsample.1.running_mean" in keys
    assert "fc.bias" in keys
    keys = set(cnncli.build("googlenet_tv", device="meta").state_dict())
    assert "inception4a.branch3.1.conv.weight" in keys


def test_init_defaults_and_choice(write_spec) -> None:
    lenet = cnncli.build("lenet5")
    assert lenet.init_scheme == "xavier"  # tanh network
    assert all((m.bias == 0).all() for m in lenet.modules() if isinstance(m, torch.nn.Linear))
    resnet = cnncli.build("resnet18", input="3x32x32")
    assert resnet.init_scheme == "kaiming"
    bn = resnet.get_submodule("bn1")
    assert (bn.weight == 1).all() and (bn.bias == 0).all()
    # Kaiming normal, fan_out: std = sqrt(2 / (64 * 7 * 7))
    std = resnet.get_submodule("conv1").weight.std().item()
    assert abs(std - (2 / (64 * 49)) ** 0.5) < 0.002
    spec = write_spec("name: t\ninit: torch\ninput: [4]\nlayers:\n  - linear: {out: 3}\n")
    assert cnncli.build(spec).init_scheme == "torch"
    bad = write_spec("name: t\ninit: he\ninput: [4]\nlayers:\n  - linear: {out: 3}\n")
    with pytest.raises(SpecError, match="init must be one of"):
        cnncli.build(bad)


def test_frozen_layers_are_not_trained(write_spec) -> None:
    spec = write_spec("""
        name: t
        input: [3, 8, 8]
        layers:
          - sequence:
              name: stem
              frozen: true
              layers:
                - conv: {out: 4, kernel: 3}
                - batchnorm
          - flatten
          - linear: {name: head, out: 2}
        """)
    totals = cnncli.analyze(spec).totals()
    model = cnncli.build(spec)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == totals["trainable_params"] == 4 * 36 * 2 + 2
    assert totals["params"] - totals["trainable_params"] == 3 * 9 * 4 + 4 + 8
    assert verify(spec).ok


def test_verify_command_passes_and_fails(cli, monkeypatch) -> None:
    code, out, _ = cli("verify", "resnet18")
    assert code == 0
    assert "verified: resnet18" in out
    assert "layer1.0.conv1" in out and "✓" in out
    from cnncli.layers.conv import Conv

    original = Conv.infer

    def wrong(self, shape):  # type: ignore[no-untyped-def]
        cost = original(self, shape)
        return cost.replace(params=cost.params + 1)

    monkeypatch.setattr(Conv, "infer", wrong)
    code, out, err = cli("verify", "resnet18")
    assert code == 1
    assert "MISMATCH: layer conv1 (conv): params is 9,409 in the analysis but 9,408" in err
    assert "✗" in out


def test_verify_meta_handles_huge_inputs(cli) -> None:
    """3x4096x4096 at batch 64 would need ~200 GB of activations at fp32; meta needs none."""
    code, out, _ = cli("verify", "resnet18", "--input", "3x4096x4096", "--batch", "64")
    assert code == 0, out


@pytest.mark.slow
def test_export_pt2_reloads_at_any_batch(tmp_path: Path, cli) -> None:
    target = tmp_path / "resnet18.pt2"
    code, out, err = cli("export", "resnet18", "--input", "3x32x32", "-f", "pt2", "-o",
                         str(target))
    assert code == 0, err
    assert err == ""  # no warnings or torch logging reach the user
    found = re.fullmatch(r"wrote (\S+) \(pt2, ([\d,]+) bytes\); checked with torch.export.load "
                         r"\(reloaded, run at batch 2 and 3\), max \|diff\| vs torch (\S+)\n", out)
    assert found, out
    assert found.group(1) == str(target)
    assert int(found.group(2).replace(",", "")) == target.stat().st_size
    assert float(found.group(3)) <= 1e-4
    program = torch.export.load(str(target))
    model = cnncli.build("resnet18", input="3x32x32").eval()
    model.load_state_dict(program.state_dict)  # the file's weights, in the spec's names
    reloaded = program.module()
    with torch.no_grad():
        for batch in (1, 5):  # sizes the export never saw: the axis is dynamic
            x = torch.randn(batch, 3, 32, 32)
            assert torch.allclose(reloaded(x), model(x), rtol=1e-5, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resnet18.pt2"]
    code, _, err = cli("export", "lenet5", "-f", "pt2", "-o", str(target))
    assert code == 2
    assert err == f"error: {target} exists; pass --force to overwrite it\n"
    code, out, err = cli("export", "lenet5", "-f", "pt2", "-o", str(target), "--force")
    assert code == 0, err
    assert tuple(torch.export.load(str(target)).module()(torch.zeros(4, 1, 32, 32)).shape) \
        == (4, 10)


def test_export_pt2_failure_is_one_line(tmp_path: Path, cli, monkeypatch) -> None:
    from cnncli.model import compat

    def refuse(*_: Any) -> None:
        raise RuntimeError("Constraints violated (batch)! For more information, run with "
                           "TORCH_LOGS=dynamic.\n  - Not all values of batch ...")

    monkeypatch.setattr(compat, "export_program", refuse)
    code, out, err = cli("export", "lenet5", "-f", "pt2", "-o", str(tmp_path / "l.pt2"))
    assert (code, out) == (2, "")
    assert err == (f"error: torch {torch.__version__} could not export the model with a "
                   "dynamic batch axis: Constraints violated (batch)! For more information, "
                   "run with TORCH_LOGS=dynamic.\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.filterwarnings(r"ignore:`?torch\.jit\.load`? is deprecated")
def test_export_torchscript(tmp_path: Path, cli) -> None:
    target = tmp_path / "lenet.pt"
    code, out, err = cli("export", "lenet5", "-f", "torchscript", "-o", str(target))
    assert code == 0, err
    assert "wrote" in out
    loaded = torch.jit.load(str(target))
    model = cnncli.build("lenet5")
    model.load_state_dict(loaded.state_dict())
    x = torch.randn(3, 1, 32, 32)
    assert torch.allclose(loaded(x), model.eval()(x), atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet.pt"]  # no temp files left


@pytest.mark.parametrize("category", [FutureWarning, None])
def test_export_torchscript_deprecation_is_one_line(tmp_path: Path, cli, monkeypatch,
                                                    category: type[Warning] | None) -> None:
    """On a torch that deprecates TorchScript, one note, not torch's warning text; on one
    that does not, nothing."""
    load = torch.jit.load

    def jit_load(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # this torch's own warning, if any
            module = load(*args, **kwargs)
        if category:
            warnings.warn("`torch.jit.load` is deprecated. Please switch to `torch.export`.",
                          category, stacklevel=2)
        return module

    monkeypatch.setattr(torch.jit, "load", jit_load)
    monkeypatch.setattr(torch.jit, "trace", _silenced(torch.jit.trace))
    monkeypatch.setattr(torch.jit.ScriptModule, "save", _silenced(torch.jit.ScriptModule.save))
    code, out, err = cli("export", "lenet5", "-f", "torchscript", "-o",
                         str(tmp_path / "lenet.pt"))
    assert code == 0, err
    assert out.startswith(f"wrote {tmp_path / 'lenet.pt'} (torchscript, ")
    expected = (f"note: torch {torch.__version__} deprecates TorchScript; --format pt2 "
                "(torch.export) is its replacement\n") if category else ""
    assert err == expected


def _silenced(function: Any) -> Any:
    """`function` with whatever warnings this torch raises in it dropped."""
    def call(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return function(*args, **kwargs)
    return call


@pytest.mark.slow
def test_export_onnx_runs_in_onnxruntime(tmp_path: Path, cli) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    target = tmp_path / "resnet18.onnx"
    code, out, err = cli("export", "resnet18", "--input", "3x64x64", "-f", "onnx", "-o",
                         str(target))
    assert code == 0, err
    assert "onnxruntime" in out
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    # The weights are in the file; compare with the same weights in torch.
    import onnx
    from onnx import numpy_helper

    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy())
               for t in onnx.load(str(target)).graph.initializer}
    model = cnncli.build("resnet18", input="3x64x64").eval()
    state = model.state_dict()
    loaded = {k: weights[k] for k in state if k in weights}
    assert "layer1.0.conv1.weight" in loaded
    model.load_state_dict({**state, **loaded})
    x = torch.randn(5, 3, 64, 64)  # a batch size the export never saw: the axis is dynamic
    (y,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(y), model(x), rtol=1e-4, atol=1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resnet18.onnx"]


def test_export_refuses_bad_targets(tmp_path: Path, cli, monkeypatch) -> None:
    existing = tmp_path / "x.pt"
    existing.write_text("keep me")
    code, _, err = cli("export", "lenet5", "-f", "torchscript", "-o", str(existing))
    assert code == 2 and "pass --force" in err and "Traceback" not in err
    assert existing.read_text() == "keep me"
    code, _, err = cli("export", "lenet5", "-f", "torchscript", "-o",
                       str(tmp_path / "no" / "x.pt"))
    assert code == 2 and "does not exist" in err
    code, _, err = cli("export", "lenet5", "-f", "torchscript", "-o", str(tmp_path))
    assert code == 2 and "is a folder" in err
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    code, _, err = cli("export", "lenet5", "-f", "onnx", "-o", str(tmp_path / "l.onnx"))
    assert code == 2 and "pip install 'cnncli[onnx]'" in err
    assert not (tmp_path / "l.onnx").exists()


# -- generated specs ---------------------------------------------------------------------

@st.composite
def conv_entry(draw: st.DrawFn, channels: int) -> dict[str, Any]:
    groups = draw(st.sampled_from([g for g in (1, 2, 4) if channels % g == 0]))
    out = groups * draw(st.integers(1, 4))
    kernel = draw(st.sampled_from([1, 2, 3, [1, 3], [3, 1]]))
    args: dict[str, Any] = {"out": out, "kernel": kernel, "groups": groups,
                            "bias": draw(st.booleans())}
    if draw(st.booleans()):
        args["padding"] = "same"
        args["dilation"] = draw(st.sampled_from([1, 2]))
    else:
        args["stride"] = draw(st.sampled_from([1, 2]))
        args["padding"] = draw(st.sampled_from([0, 1]))
    return {"conv": args}


SIMPLE = ["relu", "relu6", "tanh", "sigmoid", "gelu", "silu", "batchnorm", "dropout",
          {"leaky_relu": {"negative_slope": 0.2}}, {"lrn": {"size": 3}}]


@st.composite
def body(draw: st.DrawFn, channels: int, depth: int) -> list[Any]:
    """A list of entries keeping feature maps; channel counts tracked for groups."""
    entries: list[Any] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["conv", "simple", "pool", "concat", "residual",
                                     "repeat", "block"] if depth < 2 else ["conv", "simple"]))
        if kind == "conv":
            entry = draw(conv_entry(channels))
            channels = entry["conv"]["out"]
        elif kind == "simple":
            entry = draw(st.sampled_from(SIMPLE))
        elif kind == "pool":
            entry = {draw(st.sampled_from(["maxpool", "avgpool"])): {
                "kernel": 2, "stride": draw(st.sampled_from([1, 2])),
                "ceil_mode": draw(st.booleans())}}
        elif kind == "concat":
            branches = {}
            total = 0
            for b in range(draw(st.integers(1, 3))):
                out = draw(st.integers(1, 4))
                # a 1x1 conv, then layers that keep the shape, so the branches agree
                extra = draw(st.lists(st.sampled_from(SIMPLE), max_size=2))
                branches[f"b{b}"] = [{"conv": {"out": out, "kernel": 1}}, *extra]
                total += out
            entry = {"concat": {"branches": branches}}
            channels = total
        elif kind == "residual":
            out = draw(st.integers(1, 6))
            stride = draw(st.sampled_from([1, 2]))
            entry = {"residual": {
                "layers": [{"conv": {"out": out, "kernel": 3, "padding": 1, "stride": stride}},
                           "batchnorm"],
                "shortcut": "auto", "after": ["relu"]}}
            channels = out
        elif kind == "repeat":
            entry = {"repeat": {"count": draw(st.integers(0, 3)),
                                "body": [{"conv": {"out": channels, "kernel": 3,
                                                   "padding": 1}}, "relu"]}}
        else:
            entry = {"unit": {"width": draw(st.integers(1, 5))}}
            channels = entry["unit"]["width"]
        entries.append(entry)
    return entries


@st.composite
def spec_text(draw: st.DrawFn) -> str:
    channels = draw(st.integers(1, 4))
    size = draw(st.integers(6, 20))
    layers = draw(body(channels, 0))
    if draw(st.booleans()):
        layers += ["global_avgpool", "flatten", {"linear": {"out": draw(st.integers(1, 5))}}]
    spec = {
        "name": "generated",
        "input": [channels, size, size],
        "blocks": {"unit": {"params": {"width": None, "k": 3},
                            "layers": [{"conv": {"out": "width", "kernel": "k",
                                                 "padding": "k // 2"}},
                                       {"batchnorm": {"when": "width > 2"}}, "relu"]}},
        "layers": layers,
    }
    return yaml.safe_dump(spec, sort_keys=False)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(text=spec_text())
def test_generated_specs_match_torch(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("gen") / "spec.yaml"
    path.write_text(text)
    try:
        analysis = cnncli.analyze(str(path), batch=2)
    except SpecError as exc:
        assume("larger than" not in str(exc) and "below 1" not in str(exc))
        raise
    result = verify(str(path), batch=2, device="cpu")
    assert result.ok, f"{result.first_disagreement()}\n{text}"
    model = cnncli.build(str(path))
    y = model(torch.randn(2, *analysis.input))
    if y.requires_grad:  # a spec of only parameter-free layers has nothing to train
        y.sum().backward()


@pytest.mark.parametrize("message", [
    # torch 2.2
    "Weights only load failed. ... WeightsUnpickler error: Unsupported class posix.system",
    # torch 2.13, 2.15
    "Weights only load failed. ... Unsupported global: GLOBAL posix.system was not an allowed "
    "global by default.",
])
def test_refused_global_is_read_from_every_torch(message: str) -> None:
    from cnncli.model import compat

    assert compat.refused_global(RuntimeError(message)) == "posix.system"
    assert compat.refused_global(RuntimeError("invalid load key, 'x'.")) is None
