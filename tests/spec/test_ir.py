"""The resolved IR is the whole network, with each node's shapes and each layer's cost
recorded once: the analysis and everything after it read them and never run `infer` again."""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import cnncli
from cnncli.analysis.diagram import svg
from cnncli.analysis.diagram_html import page
from cnncli.analysis.explain import explain_json, explain_network, explain_rows
from cnncli.analysis.training import max_batch, training_memory
from cnncli.layers import REGISTRY
from cnncli.spec import composites, context, resolve
from cnncli.spec.ir import LayerNode, Node, Residual, Sequence, children, parts
from cnncli.spec.load import load

ZOO = ("resnet50", "googlenet", "densenet121", "mobilenet_v3_small")


def nodes(node: Node) -> Iterator[Node]:
    yield node
    for child in children(node):
        yield from nodes(child)


@pytest.fixture
def infer_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[int]:
    """Counts `infer` calls per layer instance (a subclass calling its base's infer counts
    once), by wrapping every registered class's own infer."""
    calls: Counter[int] = Counter()
    inside: set[int] = set()

    def wrap(original):  # type: ignore[no-untyped-def]
        def infer(self, shape):  # type: ignore[no-untyped-def]
            outer = id(self) not in inside
            if outer:
                calls[id(self)] += 1
                inside.add(id(self))
            try:
                return original(self, shape)
            finally:
                if outer:
                    inside.discard(id(self))
        return infer

    for cls in {c for c in REGISTRY.values()}:
        for klass in cls.__mro__:
            if "infer" in vars(klass) and not getattr(vars(klass)["infer"], "wrapped", False):
                wrapped = wrap(vars(klass)["infer"])
                wrapped.wrapped = True  # type: ignore[attr-defined]
                monkeypatch.setattr(klass, "infer", wrapped)
    return calls


@pytest.mark.parametrize("name", ZOO)
def test_infer_runs_once_per_layer_node(name: str, infer_calls: Counter[int]) -> None:
    a = cnncli.analyze(name, batch=2)
    layers = [n.layer for n in nodes(a.network.root) if isinstance(n, LayerNode)]
    assert {id(layer): infer_calls[id(layer)] for layer in layers} == \
        {id(layer): 1 for layer in layers}
    before = sum(infer_calls[id(layer)] for layer in layers)
    explain_network(a, None)
    explain_json(a, None)
    explain_rows(a, [r for r in a.root.walk() if r.path])
    training_memory(a, "adam", amp=True)
    max_batch(a, 8 * 2**30)
    svg(a, None)
    page(a, None)
    assert sum(infer_calls[id(layer)] for layer in layers) == before


@pytest.mark.parametrize("name", ["resnet50", "googlenet"])
def test_build_and_verify_read_recorded_shapes(name: str, infer_calls: Counter[int]) -> None:
    from cnncli.model.verify import verify_analysis

    a = cnncli.analyze(name)
    layers = [n.layer for n in nodes(a.network.root) if isinstance(n, LayerNode)]
    assert verify_analysis(a, "meta").ok
    assert sum(infer_calls[id(layer)] for layer in layers) == len(layers)


def test_projection_is_a_node_of_the_resolved_network() -> None:
    net = load("resnet50")
    block = net.root.children[4].children[0]  # type: ignore[attr-defined]
    assert isinstance(block, Residual) and block.auto
    assert isinstance(block.shortcut, Sequence)
    assert block.shortcut.path == "layer1.0.downsample"
    assert [c.path for c in block.shortcut.children] == ["layer1.0.downsample.0",
                                                         "layer1.0.downsample.1"]
    assert block.shortcut.input == (64, 56, 56) and block.shortcut.output == (256, 56, 56)
    conv = block.shortcut.children[0]
    assert isinstance(conv, LayerNode) and conv.cost is not None
    assert (conv.cost.params, conv.cost.macs) == (64 * 256, 64 * 256 * 56 * 56)
    same = net.root.children[4].children[1]  # type: ignore[attr-defined]
    assert isinstance(same, Residual) and same.shortcut == "identity" and not same.auto


def test_every_node_records_its_shapes() -> None:
    net = load("googlenet")
    for node in nodes(net.root):
        assert node.input and node.output, node.path
        for _, child in parts(node)[:1]:
            assert child.input == node.input or node.path == "", child.path


def test_rows_say_what_each_child_is() -> None:
    a = cnncli.analyze("resnet18")
    block = next(r for r in a.root.walk() if r.path == "layer2.0")
    roles = [(c.path, c.role) for c in block.children]
    assert roles == [("layer2.0.conv1", "body"), ("layer2.0.bn1", "body"),
                     ("layer2.0.relu1", "body"), ("layer2.0.conv2", "body"),
                     ("layer2.0.bn2", "body"), ("layer2.0.downsample", "shortcut"),
                     ("layer2.0.(add)", ""), ("layer2.0.relu", "after")]
    concat = next(r for r in cnncli.analyze("googlenet").root.walk() if r.path == "inception3a")
    assert [c.role for c in concat.children] == ["branch"] * 4 + [""]


def test_row_keeps_the_cost() -> None:
    a = cnncli.analyze("alexnet")
    conv = next(r for r in a.root.walk() if r.is_layer and r.kind == "conv")
    assert conv.cost is not None and conv.cost is conv.node.cost  # type: ignore[attr-defined]
    assert (conv.params, conv.macs, conv.buffers) == (conv.cost.params, conv.cost.macs,
                                                      conv.cost.buffers)


def test_resolver_keeps_no_state_between_methods() -> None:
    """Only the configuration and the node budget live on the resolver; where an entry is
    resolved travels down in a frozen Context."""
    r = resolve.Resolver({}, {"width": 4})
    assert set(vars(r)) == {"blocks", "globals", "budget"}
    ctx = context.Context(scope={}, prefix="", frozen=False, shape=(3, 8, 8))
    with pytest.raises(AttributeError, match="frozen"):
        ctx.prefix = "other"  # type: ignore[misc]
    assert ctx.replace(prefix="other").prefix == "other" and ctx.prefix == ""
    for fn in (resolve.Resolver.items, resolve.Resolver.entry, composites.residual,
               composites.concat, composites.repeat):
        assert "ctx" in inspect.signature(fn).parameters


def _spec(tmp_path: Path, layers: str) -> str:
    path = tmp_path / "net.yaml"
    path.write_text(f"name: net\ninput: 3x8x8\nlayers:\n{layers}")
    return str(path)


def test_projection_error_is_located_at_the_inline_residual(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "  - conv: {out: 4, kernel: 3, padding: 1}\n"
                 "  - residual: {inline: true, layers: [conv: {out: 8, kernel: 3}, relu: {}]}\n")
    with pytest.raises(cnncli.SpecError) as err:
        load(spec)
    assert str(err.value).endswith("net.yaml:5:5: layer 1-2: residual add: no strided 1x1 "
                                   "conv maps 4x8x8 to 8x6x6; give the shortcut layers "
                                   "explicitly")


def test_projection_errors_come_after_the_specs_other_errors(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "  - residual: {layers: [flatten: {}, linear: {out: 5}]}\n"
                 "  - bogus: {}\n")
    with pytest.raises(cnncli.SpecError, match="unknown layer type 'bogus'"):
        load(spec)
