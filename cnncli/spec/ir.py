"""The resolved network: a tree of layer nodes and three composites, no YAML left in it.

Every node has a stable dotted `path` (`layer3.2.conv1`) used in every output, and the
`mark` of the spec text it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Mark
from ..layers import Layer


@dataclass
class Node:
    name: str  # last path component: a given name or the index in the parent
    path: str
    mark: Mark
    frozen: bool  # parameters not trained (requires_grad off when built)


@dataclass
class LayerNode(Node):
    layer: Layer

    @property
    def kind(self) -> str:
        return self.layer.name


@dataclass
class Sequence(Node):
    """Children applied one after another. `label` names a block it came from, if any."""

    children: list[Node] = field(default_factory=list)
    label: str = "sequence"

    @property
    def kind(self) -> str:
        return self.label


@dataclass
class Concat(Node):
    """Branches applied to the same input, outputs joined along channels."""

    branches: list[Node] = field(default_factory=list)
    label: str = "concat"

    @property
    def kind(self) -> str:
        return self.label


@dataclass
class Residual(Node):
    """`body(x) + shortcut(x)`, then the `after` layers.

    shortcut: "identity", "auto" (identity when shapes match, else a 1x1 conv + batchnorm
    projection named `shortcut`), or an explicit Sequence named `shortcut`.
    """

    body: list[Node] = field(default_factory=list)
    shortcut: str | Sequence = "auto"
    after: list[Node] = field(default_factory=list)
    label: str = "residual"

    @property
    def kind(self) -> str:
        return self.label


@dataclass
class Network:
    name: str
    description: str
    input: tuple[int, ...]
    root: Sequence
    source: str  # the spec file
    params: dict[str, object] = field(default_factory=dict)  # resolved parameter values
    init: str = "auto"  # weight initialisation scheme (see model.py)
    variant: str | None = None  # the zoo variant applied, if any
    overrides: dict[str, object] = field(default_factory=dict)  # --set values applied
    files: dict[str, str] = field(default_factory=dict)  # every file read: path -> text
    train: Any = None  # the spec's `train:` defaults (a located mapping), if any
