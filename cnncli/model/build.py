"""Compile a spec into a torch.nn.Module that does exactly what the analysis says.

The builder walks the analysed tree (which knows every layer's input shape) and asks each
layer class for its own module; every composite becomes one `Composite`, its modules and a
small plan of how they connect. Module
names are the spec's path components, so `state_dict()` keys read like the spec
(`layer3.2.conv1.weight`). This module imports torch; the static commands never import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..analysis.analyze import Analysis, Row, analyze
from ..errors import SpecError
from ..layers import REGISTRY
from ..spec.ir import INPUT, Concat, Gate, Join, LayerNode, Network, Residual
from . import compat
from .pretrained import load_pretrained

INITS = ("auto", "kaiming", "xavier", "torch")
# Families of `init_nonlinearity`, each activation class's own attribute.
_SATURATING = {"tanh", "sigmoid"}
_RECTIFIERS = {"relu", "leaky_relu"}


Plan = tuple  # ("module", name) | ("seq", steps) | ("cat", branches, split) | ...


class Composite(nn.Module):
    """A composite of the spec: its modules under the spec's names (an inline composite's
    layers among them) and the plan that wires them:

    ("module", name); ("seq", (plan, ...)); ("cat", (plan, ...), split), the branches joined
    along channels, each on its share of the channels when split; ("add", body, shortcut),
    shortcut None for the identity; ("mul", gate), x times gate(x). The graph form adds
    ("from", path, plan), the plan run on an earlier named output instead of x;
    ("keep", path, plan), whose output later steps read by name; ("join", op, paths, axis).
    Named outputs travel in `env` (path -> tensor), shared by the whole model's forward.
    """

    def __init__(self, modules: list[tuple[str, nn.Module]], plan: Plan):
        super().__init__()
        for name, module in modules:
            self.add_module(name, module)
        self.plan = plan

    def forward(self, x: torch.Tensor, env: dict[str, torch.Tensor] | None = None
                ) -> torch.Tensor:
        return self.run(self.plan, x, {} if env is None else env)

    def __getitem__(self, index: int) -> nn.Module:
        """The index-th module of a plain sequence (`model.layer1[0]`, as torchvision's);
        a residual, concat or gate has no order to index, only names."""
        names = _in_order(self.plan)
        if names is None or not names:
            raise TypeError("a residual, concat or gate composite is indexed by name, not "
                            f"position: {', '.join(self._modules)}")
        if not isinstance(index, int):
            raise TypeError(f"indices are integers, not {type(index).__name__}")
        return self._modules[names[index]]  # type: ignore[return-value]

    def extra_repr(self) -> str:
        """The wiring, where it is more than a sequence: where a residual adds, a concat
        joins and a gate multiplies."""
        return "" if _in_order(self.plan) is not None else f"wiring: {_wiring(self.plan)}"

    def run(self, plan: Plan, x: torch.Tensor, env: dict[str, torch.Tensor]) -> torch.Tensor:
        kind = plan[0]
        if kind == "module":
            module = self._modules[plan[1]]
            return module(x, env) if isinstance(module, Composite) else module(x)  # type: ignore[misc]
        if kind == "seq":
            for step in plan[1]:
                x = self.run(step, x, env)
            return x
        if kind == "cat":
            parts = x.chunk(len(plan[1]), dim=1) if plan[2] else [x] * len(plan[1])
            return torch.cat([self.run(p, part, env) for p, part in zip(plan[1], parts)],
                             dim=1)
        if kind == "add":
            side = x if plan[2] is None else self.run(plan[2], x, env)
            return self.run(plan[1], x, env) + side
        if kind == "mul":
            return x * self.run(plan[1], x, env)
        if kind == "keep":
            env[plan[1]] = y = self.run(plan[2], x, env)
            return y
        if kind == "from":
            return self.run(plan[2], _named(env, plan[1]), env)
        if kind == "join":
            return _join(plan[1], [_named(env, path) for path in plan[2]], plan[3])
        raise AssertionError(f"unknown plan step {kind!r}")


def _named(env: dict[str, torch.Tensor], path: str) -> torch.Tensor:
    if path not in env:
        raise RuntimeError(f"this part reads {path!r}, an output made outside it: run the "
                           "whole model (a part that reads named outputs cannot run alone)")
    return env[path]


def _join(op: str, tensors: list[torch.Tensor], axis: int = 0) -> torch.Tensor:
    if op == "concat":  # axis counts the per-sample axes; dim 0 is the batch
        return torch.cat(tensors, dim=axis + 1)
    out = tensors[0]
    for t in tensors[1:]:
        out = out + t if op == "add" else out * t
    return out


def _in_order(plan: Plan) -> list[str] | None:
    """The module names of a plan that is a plain sequence, else None."""
    if plan[0] == "keep":
        return _in_order(plan[2])
    if plan[0] == "module":
        return [plan[1]]
    if plan[0] == "seq":
        names = [_in_order(step) for step in plan[1]]
        if all(n is not None and len(n) == 1 and step[0] != "seq"
               for n, step in zip(names, plan[1])):
            return [n[0] for n in names]  # type: ignore[index]
    return None


def _wiring(plan: Plan) -> str:
    """A plan in words: `add(body: conv1 -> bn1, shortcut: identity) -> relu`."""
    kind = plan[0]
    if kind == "module":
        return str(plan[1])
    if kind == "seq":
        return " -> ".join(_wiring(step) for step in plan[1]) or "identity"
    if kind == "cat":
        how = "split channels: " if plan[2] else ""
        return f"concat({how}{' | '.join(_wiring(p) for p in plan[1])})"
    if kind == "add":
        side = "identity" if plan[2] is None else _wiring(plan[2])
        return f"add(body: {_wiring(plan[1])}, shortcut: {side})"
    if kind == "keep":
        return _wiring(plan[2])
    if kind == "from":
        return f"[{plan[1]}] -> {_wiring(plan[2])}"
    if kind == "join":
        return f"{plan[1]}({', '.join(plan[2])})"
    return f"multiply(x, gate: {_wiring(plan[1])})"


class CnnModel(Composite):
    """The network a spec describes, with its name and input and output shapes."""

    def __init__(self, analysis: Analysis):
        super().__init__(*assemble(analysis.root, kept(analysis)))
        self.spec_name = analysis.network.name
        self.input_shape = tuple(analysis.input)
        self.output_shape = tuple(analysis.output)
        #: paths of the spec's named outputs (`outputs:`), returned as a tuple
        self.outputs = tuple(n.path for n in analysis.network.outputs.values())
        #: the graph outputs' names in an exported file
        self.output_names = tuple(analysis.network.outputs) or ("output",)
        tie_shared(self, analysis)

    def forward(self, x: torch.Tensor, env: dict[str, torch.Tensor] | None = None
                ) -> Any:
        env = {INPUT: x}
        y = self.run(self.plan, x, env)
        return tuple(env[path] for path in self.outputs) if self.outputs else y


def tie_shared(model: nn.Module, analysis: Analysis) -> None:
    """Give each layer that `shares:` another's weights that layer's very tensors (its
    parameters and buffers), so one tensor is trained, counted and saved for both (its state
    dict lists it under both names, as torch does for a module called twice)."""
    for row in analysis.root.walk():
        if row.owner is None:
            continue
        source, target = model.get_submodule(row.owner.path), model.get_submodule(row.path)
        for name, tensor in [*source.named_parameters(), *source.named_buffers()]:
            module, _, attr = name.rpartition(".")
            mine = target.get_submodule(module)
            assert getattr(mine, attr).shape == tensor.shape, (row.path, name)
            setattr(mine, attr, tensor)


def kept(analysis: Analysis) -> frozenset[str]:
    """The paths whose outputs a later step reads by name."""
    paths = {n.path for n in analysis.network.outputs.values()}
    for row in analysis.root.walk():
        paths.update(row.node.sources)
    return frozenset(paths)


def assemble(row: Row, keep: frozenset[str] = frozenset()
             ) -> tuple[list[tuple[str, nn.Module]], Plan]:
    """The modules a composite row owns (through inline children too) and its plan;
    `keep`: the paths whose outputs are read by name."""
    modules: list[tuple[str, nn.Module]] = []

    def step(child: Row) -> Plan:
        node = child.node
        if isinstance(node, Join):
            plan: Plan = ("join", node.op, node.sources, node.axis)
        elif node.inline:
            owned, plan = assemble(child, keep)
            modules.extend(owned)
        else:
            modules.append((node.name, module_for(child, keep)))
            plan = ("module", node.name)
        if node.sources and not isinstance(node, Join):
            plan = ("from", node.sources[0], plan)
        return ("keep", node.path, plan) if node.path in keep else plan

    def steps(rows: list[Row]) -> tuple[Plan, ...]:
        return tuple(step(r) for r in rows)

    node = row.node
    parts = [child for child in row.children if child.op is None or isinstance(child.node, Join)]
    if isinstance(node, Concat):
        branches = [r for r in parts if r.role == "branch"]
        join = ("cat", steps(branches), node.split)
        return modules, ("seq", (join, *steps([r for r in parts if r.role == "after"])))
    if isinstance(node, Residual):
        body = [r for r in parts if r.role == "body"]
        after = [r for r in parts if r.role == "after"]
        side = next((r for r in parts if r.role == "shortcut"), None)
        add = ("add", ("seq", steps(body)), None if side is None else step(side))
        return modules, ("seq", (add, *steps(after)))
    if isinstance(node, Gate):
        return modules, ("mul", ("seq", steps(parts)))
    return modules, ("seq", steps(parts))


def module_for(row: Row, keep: frozenset[str] = frozenset()) -> nn.Module:
    """The torch module of one analysed row (a layer or a composite)."""
    node = row.node
    if isinstance(node, LayerNode):
        module = node.layer.build(row.input)
        if node.frozen:
            module.requires_grad_(False)
        return module
    return Composite(*assemble(row, keep))


def init_weights(model: nn.Module, kinds: set[str], scheme: str) -> str:
    """Initialise conv/linear/batchnorm weights; return the scheme used.

    auto: Xavier/Glorot when the net's activations are (scaled) tanh/sigmoid only, else Kaiming
    (He et al., fan_out for convs as torchvision's ResNets). Biases start at 0, BatchNorm
    at weight 1, bias 0. "torch" keeps PyTorch's own defaults.
    """
    families = {REGISTRY[kind].init_nonlinearity for kind in kinds}  # the net's layer types
    if scheme == "auto":
        saturating_only = families & _SATURATING and not families & _RECTIFIERS
        scheme = "xavier" if saturating_only else "kaiming"
    if scheme == "torch":
        return scheme
    gain = nn.init.calculate_gain("tanh") if "tanh" in families else 1.0
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if scheme == "kaiming":
                # A transposed conv's weight is (in, out / groups, kh, kw): torch's fan_in
                # of it is what fan_out is for a conv (the outputs each input feeds).
                mode = "fan_out" if isinstance(module, nn.Conv2d) else "fan_in"
                nn.init.kaiming_normal_(module.weight, mode=mode, nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(module.weight, gain=gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and module.affine:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return scheme


def build_from_analysis(analysis: Analysis, init: str | None = None,
                        device: str | torch.device | None = None) -> CnnModel:
    """The module for an analysed spec; on the meta device no memory is allocated."""
    scheme = init or analysis.network.init
    if scheme not in INITS:
        raise SpecError(f"init must be one of {', '.join(INITS)}, got {scheme!r}")
    with compat.on_device(device or "cpu"):
        model = CnnModel(analysis)
    if torch.device(device or "cpu").type != "meta":
        kinds = {row.kind for row in analysis.root.walk() if row.is_layer}
        model.init_scheme = init_weights(model, kinds, scheme)
    return model


def build(spec: str | Network, overrides: Mapping[str, Any] | None = None,
          input: str | tuple[int, ...] | None = None, init: str | None = None,
          device: str | torch.device | None = None, weights: str | None = None) -> CnnModel:
    """`cnncli.build("resnet50", weights="torchvision")`: the torch model of a spec file, zoo
    name or Network, with pretrained weights if given (torchvision, imagenet or a path)."""
    analysis = analyze(spec, overrides=overrides, input=input)
    model = build_from_analysis(analysis, init, device)
    if weights is not None:
        model.pretrained = load_pretrained(model, analysis.network, weights)
    return model
