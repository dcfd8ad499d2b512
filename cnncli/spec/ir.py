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

from typing import Any

from ..errors import Mark, SpecError
from ..layers import Cost, Layer, Shape, ShapeError, shape_text
from ..records import Record
from .recipe import Recipe


class Node(Record):
    """What every node has; each kind adds its own fields (its `__init__` takes these as
    keywords, `**node`)."""

    name: str  # last path component: a given name or the index in the parent
    path: str
    mark: Mark
    frozen: bool  # parameters not trained (requires_grad off when built)
    inline: bool  # children named in the parent's space
    input: Shape  # per sample, recorded when resolved
    output: Shape
    #: paths of the earlier nodes it reads (graph form), empty where it reads the previous
    #: entry's output (or its composite's input); the first is its input (a block call's
    #: others are its further inputs, read inside it; a join reads them all)
    sources: tuple[str, ...]
    #: a block call's declared `outputs:`, the only parts a dotted name may read (empty:
    #: any part)
    exports: tuple[str, ...]

    def __init__(self, name: str, path: str, mark: Mark, frozen: bool, *, inline: bool = False,
                 input: Shape = (), output: Shape = (), sources: tuple[str, ...] = (),
                 exports: tuple[str, ...] = ()) -> None:
        self.name, self.path, self.mark, self.frozen = name, path, mark, frozen
        self.inline, self.input, self.output = inline, input, output
        self.sources, self.exports = sources, exports


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


class LayerNode(Node):
    layer: Layer
    cost: Cost | None  # set by `apply`, once
    #: the earlier layer whose weights (parameters and buffers) this one uses (`shares:`):
    #: its own count none, they are counted once, at `owner`
    owner: LayerNode | None

    def __init__(self, name: str, path: str, mark: Mark, frozen: bool, layer: Layer, *,
                 cost: Cost | None = None, owner: LayerNode | None = None,
                 **node: Any) -> None:
        super().__init__(name, path, mark, frozen, **node)
        self.layer, self.cost, self.owner = layer, cost, owner

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


class Sequence(Node):
    """Children applied one after another. `label` names a block it came from, if any."""

    children: list[Node]
    label: str

    def __init__(self, name: str, path: str, mark: Mark, frozen: bool,
                 children: list[Node] | None = None, label: str = "sequence",
                 **node: Any) -> None:
        super().__init__(name, path, mark, frozen, **node)
        self.children = [] if children is None else children
        self.label = label

    @property
    def kind(self) -> str:
        return self.label


class Concat(Node):
    """Branches applied to the same input (or, with `split`, each to its equal share of the
    input's channels), outputs joined along channels, then the `after` layers."""

    branches: list[Node]
    split: bool
    after: list[Node]
    label: str
    joined: Shape  # the branches' outputs joined, before `after`

    def __init__(self, name: str, path: str, mark: Mark, frozen: bool,
                 branches: list[Node] | None = None, split: bool = False,
                 after: list[Node] | None = None, label: str = "concat", joined: Shape = (),
                 **node: Any) -> None:
        super().__init__(name, path, mark, frozen, **node)
        self.branches = [] if branches is None else branches
        self.split = split
        self.after = [] if after is None else after
        self.label, self.joined = label, joined

    @property
    def kind(self) -> str:
        return self.label


class Residual(Node):
    """`body(x) + shortcut(x)`, then the `after` layers.

    shortcut: "identity" or a Sequence named `shortcut_name`: the layers the spec gives, or
    (`auto`: True) the 1x1 conv + batchnorm projection the resolver made because the body
    changes the shape. ("auto" only while being resolved; "none" resolves to a Sequence.)
    """

    body: list[Node]
    shortcut: str | Sequence
    after: list[Node]
    label: str
    shortcut_name: str  # the projection's name (torchvision: downsample)
    auto: bool  # the shortcut is the automatic projection, not written in the spec

    def __init__(self, name: str, path: str, mark: Mark, frozen: bool,
                 body: list[Node] | None = None, shortcut: str | Sequence = "auto",
                 after: list[Node] | None = None, label: str = "residual",
                 shortcut_name: str = "shortcut", auto: bool = False, **node: Any) -> None:
        super().__init__(name, path, mark, frozen, **node)
        self.body = [] if body is None else body
        self.shortcut = shortcut
        self.after = [] if after is None else after
        self.label, self.shortcut_name, self.auto = label, shortcut_name, auto

    @property
    def kind(self) -> str:
        return self.label


class Gate(Node):
    """`x * gate(x)`: the gate's output (Cx1x1 broadcast over CxHxW, or x's own shape)
    scales the input, as squeeze-and-excitation does."""

    layers: list[Node]
    label: str

    def __init__(self, name: str, path: str, mark: Mark, frozen: bool,
                 layers: list[Node] | None = None, label: str = "gate", **node: Any) -> None:
        super().__init__(name, path, mark, frozen, **node)
        self.layers = [] if layers is None else layers
        self.label = label

    @property
    def kind(self) -> str:
        return self.label


class Join(Node):
    """Several earlier outputs (`sources`, two or more) added, multiplied elementwise (a
    Cx1x1 factor broadcast over a CxHxW map) or concatenated along channels (or `axis`)."""

    op: str
    #: the shape of each source, in order
    shapes: list[Shape]
    #: concat's axis of the per-sample shape (0: channels; torch's dim is axis + 1)
    axis: int

    def __init__(self, name: str, path: str, mark: Mark, frozen: bool, op: str = "add",
                 shapes: list[Shape] | None = None, axis: int = 0, **node: Any) -> None:
        super().__init__(name, path, mark, frozen, **node)
        self.op = op
        self.shapes = [] if shapes is None else shapes
        self.axis = axis

    @property
    def kind(self) -> str:
        return self.op


class Network(Record):
    """A resolved spec: its root sequence and what it was resolved from."""

    name: str
    description: str
    input: tuple[int, ...]
    root: Sequence
    source: str  # the spec file
    params: dict[str, object]  # resolved parameter values
    init: str  # weight initialisation scheme (see model/build.py)
    variant: str | None  # the zoo variant applied, if any
    overrides: dict[str, object]  # --set values applied
    files: dict[str, str]  # every file read: path -> text
    train: Recipe  # the spec's `train:` options, checked
    torchvision: Any  # the torchvision network it mirrors (pretrained.Torchvision)
    #: the network's named outputs where the spec lists several (`outputs:`): name -> node;
    #: empty where its output is the last entry's
    outputs: dict[str, Node]

    def __init__(self, name: str, description: str, input: tuple[int, ...], root: Sequence,
                 source: str, params: dict[str, object] | None = None, init: str = "auto",
                 variant: str | None = None, overrides: dict[str, object] | None = None,
                 files: dict[str, str] | None = None, train: Recipe | None = None,
                 torchvision: Any = None, outputs: dict[str, Node] | None = None) -> None:
        self.name, self.description, self.input = name, description, input
        self.root, self.source = root, source
        self.params = {} if params is None else params
        self.init, self.variant = init, variant
        self.overrides = {} if overrides is None else overrides
        self.files = {} if files is None else files
        self.train = Recipe() if train is None else train
        self.torchvision = torchvision
        self.outputs = {} if outputs is None else outputs


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
