"""The resolved network: a tree of layer nodes, four composites and joins, no YAML left in it.

It is the whole network: a residual's automatic projection is a node like any other. Each
node records the shape it takes and gives (`input`, `output`), and each layer its `Cost`,
worked out once by the resolver; the analysis and the model read them.

Every node has a stable dotted `path` (`layer3.2.conv1`) used in every output and as its
module's state_dict prefix, and the `mark` of the spec text it came from. An `inline`
composite lends its children its parent's namespace: `fire.expand1x1`, not
`fire.expand.expand1x1` (torchvision's Inception, Fire and dense layers are written so).

The tree is also a graph: a node whose `sources` are set reads the outputs of those earlier
nodes (by path; `INPUT` is the network's input) instead of the output of the entry before
it, and a `Join` adds, multiplies or concatenates several earlier outputs. The tree order
is an order in which every node's inputs exist before it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Mark, SpecError
from ..layers import Cost, Layer, Shape, ShapeError, shape_text
from .recipe import Recipe


@dataclass
class Node:
    name: str  # last path component: a given name or the index in the parent
    path: str
    mark: Mark
    frozen: bool  # parameters not trained (requires_grad off when built)
    inline: bool = field(default=False, kw_only=True)  # children named in the parent's space
    input: Shape = field(default=(), kw_only=True)  # per sample, recorded when resolved
    output: Shape = field(default=(), kw_only=True)
    #: paths of the earlier nodes it reads (graph form), empty where it reads the previous
    #: entry's output (or its composite's input); the first is its input (a block call's
    #: others are its further inputs, read inside it; a join reads them all)
    sources: tuple[str, ...] = field(default=(), kw_only=True)
    #: a block call's declared `outputs:`, the only parts a dotted name may read (empty:
    #: any part)
    exports: tuple[str, ...] = field(default=(), kw_only=True)


#: the path that stands for the network's input among `sources`
INPUT = "(input)"


def shown_path(path: str) -> str:
    """A source path as the spec writes it: `input` for the network's input."""
    return "input" if path == INPUT else path
#: the path of a tensor no node gives: the sum or concatenation an `after` list starts
#: from, a split concat's share (a block called there cannot read its input by name)
UNNAMED = "(unnamed)"
#: the joins of several named tensors, and what each does to them
JOINS = ("add", "multiply", "concat")


@dataclass
class LayerNode(Node):
    layer: Layer
    cost: Cost | None = field(default=None, kw_only=True)  # set by `apply`, once
    #: the earlier layer whose weights (parameters and buffers) this one uses (`shares:`):
    #: its own count none, they are counted once, at `owner`
    owner: LayerNode | None = field(default=None, kw_only=True)

    @property
    def kind(self) -> str:
        return self.layer.name

    def apply(self, shape: Shape) -> Shape:
        """Run the layer's `infer` on `shape` (its shape errors located at this node) and
        record the input, cost and output; the output shape is returned."""
        try:
            cost = self.layer.infer(shape)
        except ShapeError as exc:
            raise SpecError(f"{self.layer.name} on input {shape_text(shape)}: {exc}", self.mark,
                            self.path) from None
        self.input, self.cost, self.output = shape, cost, cost.output
        return cost.output


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
    """Branches applied to the same input (or, with `split`, each to its equal share of the
    input's channels), outputs joined along channels, then the `after` layers."""

    branches: list[Node] = field(default_factory=list)
    split: bool = False
    after: list[Node] = field(default_factory=list)
    label: str = "concat"
    joined: Shape = ()  # the branches' outputs joined, before `after`

    @property
    def kind(self) -> str:
        return self.label


@dataclass
class Residual(Node):
    """`body(x) + shortcut(x)`, then the `after` layers.

    shortcut: "identity" or a Sequence named `shortcut_name`: the layers the spec gives, or
    (`auto`: True) the 1x1 conv + batchnorm projection the resolver made because the body
    changes the shape. ("auto" only while being resolved; "none" resolves to a Sequence.)
    """

    body: list[Node] = field(default_factory=list)
    shortcut: str | Sequence = "auto"
    after: list[Node] = field(default_factory=list)
    label: str = "residual"
    shortcut_name: str = "shortcut"  # the projection's name (torchvision: downsample)
    auto: bool = False  # the shortcut is the automatic projection, not written in the spec

    @property
    def kind(self) -> str:
        return self.label


@dataclass
class Gate(Node):
    """`x * gate(x)`: the gate's output (Cx1x1 broadcast over CxHxW, or x's own shape)
    scales the input, as squeeze-and-excitation does."""

    layers: list[Node] = field(default_factory=list)
    label: str = "gate"

    @property
    def kind(self) -> str:
        return self.label


@dataclass
class Join(Node):
    """Several earlier outputs (`sources`, two or more) added, multiplied elementwise (a
    Cx1x1 factor broadcast over a CxHxW map) or concatenated along channels (or `axis`)."""

    op: str = "add"
    #: the shape of each source, in order
    shapes: list[Shape] = field(default_factory=list)
    #: concat's axis of the per-sample shape (0: channels; torch's dim is axis + 1)
    axis: int = 0

    @property
    def kind(self) -> str:
        return self.op


@dataclass
class Network:
    name: str
    description: str
    input: tuple[int, ...]
    root: Sequence
    source: str  # the spec file
    params: dict[str, object] = field(default_factory=dict)  # resolved parameter values
    init: str = "auto"  # weight initialisation scheme (see model/build.py)
    variant: str | None = None  # the zoo variant applied, if any
    overrides: dict[str, object] = field(default_factory=dict)  # --set values applied
    files: dict[str, str] = field(default_factory=dict)  # every file read: path -> text
    train: Recipe = field(default_factory=Recipe)  # the spec's `train:` options, checked
    torchvision: Any = None  # the torchvision network it mirrors (pretrained.Torchvision)
    #: the network's named outputs where the spec lists several (`outputs:`): name -> node;
    #: empty where its output is the last entry's
    outputs: dict[str, Node] = field(default_factory=dict)


#: what a child is to its composite: the parts of a residual and a concat; "" in a sequence
#: or a gate, where the children simply follow one another
ROLES = ("body", "shortcut", "branch", "after", "")


def parts(node: Node) -> list[tuple[str, Node]]:
    """A composite's children in order, each with its role (a layer has none)."""
    if isinstance(node, Sequence):
        return [("", c) for c in node.children]
    if isinstance(node, Concat):
        return [*(("branch", c) for c in node.branches), *(("after", c) for c in node.after)]
    if isinstance(node, Residual):
        shortcut = [("shortcut", node.shortcut)] if isinstance(node.shortcut, Sequence) else []
        return [*(("body", c) for c in node.body), *shortcut,
                *(("after", c) for c in node.after)]
    if isinstance(node, Gate):
        return [("", c) for c in node.layers]
    return []


def children(node: Node) -> list[Node]:
    """A composite's child nodes in order (a layer has none)."""
    return [child for _, child in parts(node)]


def written(node: Node) -> list[Node]:
    """The children the spec wrote: all but a residual's automatic projection (which takes
    no name or index among its parent's, and is frozen with its residual)."""
    skip = node.shortcut if isinstance(node, Residual) and node.auto else None
    return [child for child in children(node) if child is not skip]


def split_input(shape: Shape, shares: int, mark: Mark, path: str) -> Shape:
    """The share of the input each of `shares` branches of a split concat gets."""
    if shape[0] % shares:
        raise SpecError(f"concat split: {shape[0]} input channels do not split into {shares} "
                        "equal shares", mark, path)
    return (shape[0] // shares, *shape[1:])


def concat_output(node: Concat, outputs: list[tuple[str, Shape]]) -> Shape:
    """Branch outputs joined along channels; they must agree on everything else."""
    first_name, first = outputs[0]
    for bname, out in outputs[1:]:
        if len(out) != len(first) or out[1:] != first[1:]:
            raise SpecError(
                f"concat: branch {bname!r} gives {shape_text(out)} but branch {first_name!r} gives "
                f"{shape_text(first)}; branches must agree on everything but channels",
                node.mark, node.path)
    return (sum(out[0] for _, out in outputs), *first[1:])


def check_gate(node: Gate, shape: Shape, gate: Shape) -> None:
    """The gate must give one value per channel (Cx1x1) or one per element."""
    per_channel = (shape[0], 1, 1) if len(shape) == 3 else shape
    if gate not in (shape, per_channel):
        raise SpecError(f"gate: its layers give {shape_text(gate)} for an input of "
                        f"{shape_text(shape)}; a "
                        f"gate must give {shape_text(per_channel)} (one factor per channel) or "
                        f"{shape_text(shape)}", node.mark, node.path)
