"""Compile a spec into a torch.nn.Module that does exactly what the analysis says.

The builder walks the analysed tree (which knows every layer's input shape) and asks each
layer class for its own module; composites become the three small modules below. Module
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
from ..spec.ir import Concat, LayerNode, Network, Residual, Sequence
from . import compat

INITS = ("auto", "kaiming", "xavier", "torch")
_SATURATING = ("tanh", "scaled_tanh", "sigmoid")
_RECTIFIERS = ("relu", "relu6", "leaky_relu", "gelu", "silu")


class _Named(nn.Module):
    """A module whose children carry the spec's names."""

    def __init__(self, children: list[tuple[str, nn.Module]]):
        super().__init__()
        for name, module in children:
            self.add_module(name, module)


class SequenceModule(_Named):
    """Children in order (like nn.Sequential, but with the spec's names)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self._modules.values():
            x = module(x)
        return x


class ConcatModule(_Named):
    """Every branch on the same input; outputs joined along channels (dim 1)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self._modules.values()], dim=1)


class ResidualModule(nn.Module):
    """`after(body(x) + shortcut(x))`; the shortcut is the identity when absent."""

    def __init__(self, body: list[tuple[str, nn.Module]], shortcut: nn.Module | None,
                 after: list[tuple[str, nn.Module]]):
        super().__init__()
        for name, module in body:
            self.add_module(name, module)
        if shortcut is not None:
            self.shortcut = shortcut
        for name, module in after:
            self.add_module(name, module)
        self.body_names = [name for name, _ in body]
        self.after_names = [name for name, _ in after]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for name in self.body_names:
            out = self._modules[name](out)  # type: ignore[misc]
        out = out + (self.shortcut(x) if "shortcut" in self._modules else x)
        for name in self.after_names:
            out = self._modules[name](out)  # type: ignore[misc]
        return out


class CnnModel(SequenceModule):
    """The network a spec describes. `analysis` is kept for reports; `network` is the IR."""

    def __init__(self, analysis: Analysis):
        super().__init__(_children(analysis.root))
        self.spec_name = analysis.network.name
        self.input_shape = tuple(analysis.input)
        self.output_shape = tuple(analysis.output)


def _children(row: Row) -> list[tuple[str, nn.Module]]:
    return [(child.node.name, module_for(child)) for child in row.children if child.op is None]


def module_for(row: Row) -> nn.Module:
    """The torch module of one analysed row (a layer or a composite)."""
    node = row.node
    if isinstance(node, LayerNode):
        module = node.layer.build(row.input)
        if node.frozen:
            module.requires_grad_(False)
        return module
    if isinstance(node, Concat):
        return ConcatModule(_children(row))
    if isinstance(node, Residual):
        body_names = {n.name for n in node.body}
        after_names = {n.name for n in node.after}
        parts = {child.node.name: child for child in row.children if child.op is None}
        shortcut = parts.get("shortcut")
        return ResidualModule(
            [(name, module_for(parts[name])) for name in parts if name in body_names],
            module_for(shortcut) if shortcut is not None else None,
            [(name, module_for(parts[name])) for name in parts if name in after_names])
    if isinstance(node, Sequence):
        return SequenceModule(_children(row))
    raise AssertionError(f"unknown node {node!r}")


def init_weights(model: nn.Module, kinds: set[str], scheme: str) -> str:
    """Initialise conv/linear/batchnorm weights; return the scheme used.

    auto: Xavier/Glorot when the net's activations are (scaled) tanh/sigmoid only, else Kaiming
    (He et al., fan_out for convs as torchvision's ResNets). Biases start at 0, BatchNorm
    at weight 1, bias 0. "torch" keeps PyTorch's own defaults.
    """
    if scheme == "auto":  # `kinds`: the layer types the network uses
        saturating_only = kinds & set(_SATURATING) and not kinds & set(_RECTIFIERS)
        scheme = "xavier" if saturating_only else "kaiming"
    if scheme == "torch":
        return scheme
    gain = nn.init.calculate_gain("tanh") if kinds & {"tanh", "scaled_tanh"} else 1.0
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            if scheme == "kaiming":
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
          device: str | torch.device | None = None) -> CnnModel:
    """`cnncli.build("resnet50")`: the torch model of a spec file, zoo name or Network."""
    return build_from_analysis(analyze(spec, overrides=overrides, input=input), init, device)
