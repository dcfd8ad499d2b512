"""The static analyzer: a fold over the resolved IR, which records every node's shapes and
every layer's cost (the resolver worked them out, once). It sums them per composite, adds
the joins' own work and follows the receptive field. Imports no torch and allocates no
tensors, so any input size and batch is instant.

Work counts (MACs, FLOPs, other ops) and activation elements are for the whole batch;
parameters and buffers are not per-sample quantities and do not scale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

from ..errors import SpecError, UsageError
from ..layers import Cost, Layer, Shape, shape_text
from ..layers.window import elements
from ..records import Record
from ..spec.ir import (
    INPUT,
    Concat,
    Gate,
    Join,
    LayerNode,
    Network,
    Node,
    Residual,
    Sequence,
    parts,
)
from ..spec.load import load
from .choices import DTYPE_BYTES
from .rf import RF

COUNTS = ("params", "buffers", "buffer_bytes", "macs", "other_ops", "connections")
#: the counts of a layer's weights: none for one that uses another's (`shares:`)
WEIGHT_COUNTS = ("params", "buffers", "buffer_bytes")


def _count(cost: Cost | None, sums: dict[str, int], shared: bool, key: str) -> int:
    """A count of a row: its layer's Cost (none of the weights it shares), or for a
    composite or op the sum of its parts."""
    if cost is None:
        return sums.get(key, 0)
    return 0 if shared and key in WEIGHT_COUNTS else getattr(cost, key)


def _counted(key: str) -> property:
    return property(lambda row: _count(row.cost, row.sums, row.owner is not None, key))


def trains(node: LayerNode) -> bool:
    """Whether a layer's weights get gradients: its own, or (`shares:`) its owner's."""
    owner = node.owner or node
    assert owner.cost is not None  # resolved before anything reads it
    return owner.cost.params > 0 and not (owner.frozen or owner.layer.fixed_params)


class Row(Record):
    """One node of the analysed tree. Counts are per sample; the Analysis scales by batch.

    A layer's row keeps its node's `Cost`; a composite's sums its children's counts.
    `role` says what the row is to its parent: body, shortcut, branch or after (ir.ROLES).
    """

    path: str
    kind: str
    depth: int
    node: Node
    input: Shape
    output: Shape
    rf: RF
    role: str
    cost: Cost | None
    trainable: int
    activations: int  # output elements of this node and everything inside it
    children: list[Row]
    op: str | None  # "add", "concat" or "mul": a composite's own work, as its own row
    sums: dict[str, int]  # a composite's or op's counts

    def __init__(self, path: str, kind: str, depth: int, node: Node, input: Shape,
                 output: Shape, rf: RF, role: str = "", cost: Cost | None = None,
                 trainable: int = 0, activations: int = 0, children: list[Row] | None = None,
                 op: str | None = None, sums: dict[str, int] | None = None) -> None:
        self.path, self.kind, self.depth, self.node = path, kind, depth, node
        self.input, self.output, self.rf, self.role = input, output, rf, role
        self.cost, self.trainable, self.activations = cost, trainable, activations
        self.children = [] if children is None else children
        self.op = op
        self.sums = {} if sums is None else sums

    params = _counted("params")
    buffers = _counted("buffers")
    buffer_bytes = _counted("buffer_bytes")
    macs = _counted("macs")
    other_ops = _counted("other_ops")
    # inputs read by each output unit plus its bias, summed (LeCun 1998)
    connections = _counted("connections")

    @property
    def layer(self) -> Layer:
        """The layer of a layer row."""
        if not isinstance(self.node, LayerNode):
            raise TypeError(f"{self.path} ({self.kind}) is not a layer")
        return self.node.layer

    @property
    def is_layer(self) -> bool:
        return isinstance(self.node, LayerNode)

    @property
    def owner(self) -> LayerNode | None:
        """The layer whose weights this layer uses (`shares:`), if any."""
        return self.node.owner if isinstance(self.node, LayerNode) else None

    @property
    def weights_train(self) -> bool:
        """A layer whose weights get gradients: its own, or (`shares:`) its owner's."""
        return isinstance(self.node, LayerNode) and trains(self.node)

    @property
    def is_leaf(self) -> bool:
        """A layer or a composite's own op: the rows whose sums are the totals."""
        return not self.children and (self.is_layer or self.op is not None)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def add(self, child: Row) -> None:
        self.children.append(child)
        self.trainable += child.trainable
        self.activations += child.activations
        cost, sums, shared = child.cost, child.sums, child.owner is not None
        for key in COUNTS:  # each count as _counted reads it, without a property per count
            self.sums[key] = self.sums.get(key, 0) + _count(cost, sums, shared, key)

    def walk(self) -> Iterator[Row]:
        yield self
        for child in self.children:
            yield from child.walk()

    def frontier(self, depth: int | None) -> Iterator[Row]:
        """Rows shown at `depth`: layers, and composites collapsed at the depth limit."""
        for child in self.children:
            if child.children and (depth is None or child.depth < depth):
                yield from child.frontier(depth)
            else:
                yield child


class Analysis(Record):
    """A spec's analysed tree (`root`) at a batch size and dtype, with its totals."""

    network: Network
    batch: int
    dtype: str
    root: Row

    def __init__(self, network: Network, batch: int, dtype: str, root: Row) -> None:
        self.network, self.batch, self.dtype, self.root = network, batch, dtype, root

    #: the summary's text (`table`); analysis.report, which builds on this module, sets it
    renderer: ClassVar[Callable[[Analysis, int | None, int | None], str] | None] = None

    def __repr__(self) -> str:
        batch = f", batch {self.batch}" if self.batch != 1 else ""
        return (f"<Analysis {self.network.name}: input {shape_text(self.input)}, output "
                f"{shape_text(self.output)}, {self.root.params:,} params, "
                f"{self.root.macs * self.batch:,} MACs{batch}>")

    def table(self, width: int | None = None, depth: int | None = None) -> str:
        """The summary table, totals and notes, as `cnncli summary` prints them: complete
        (one line a row) when width is None, else fitted to that many columns; `depth`
        collapses deeper blocks into one row each."""
        assert Analysis.renderer is not None, "cnncli.analysis.report sets it on import"
        return Analysis.renderer(self, width, depth)

    @property
    def input(self) -> Shape:
        return self.network.input

    @property
    def output(self) -> Shape:
        return self.root.output

    def unpriced(self) -> list[Row]:
        """Layers whose work cnncli does not know (an imported file's onnx_op entries): the
        totals leave them out and say they are partial."""
        return [row for row in self.root.walk() if row.is_layer and not row.layer.priced]

    def totals(self) -> dict[str, Any]:
        r, b = self.root, self.batch
        element = DTYPE_BYTES[self.dtype]
        return {
            "params": r.params,
            "trainable_params": r.trainable,
            "non_trainable_params": r.params - r.trainable,
            "buffers": r.buffers,
            "macs": r.macs * b,
            "flops": r.flops * b,
            "other_ops": r.other_ops * b,
            "activations": r.activations * b,
            "input_bytes": elements(self.input) * b * element,
            "param_bytes": r.params * element,
            "buffer_bytes": r.buffer_bytes,
            "activation_bytes": r.activations * b * element,
            "connections": r.connections,
        }


def analyze_network(network: Network, batch: int = 1, dtype: str = "fp32") -> Analysis:
    """A fold over the resolved network: the shapes and costs its nodes record, summed per
    composite, with the receptive field followed through."""
    root = Row(path="", kind=network.name, depth=0, node=network.root, input=network.input,
               output=network.input, rf=RF())
    seen = {INPUT: RF(), WHOLE: RF(network.input[1:] if len(network.input) == 3 else (1, 1))}
    out, rf = _fold(root, parts(network.root), network.input, RF(), 1, seen)
    root.output, root.rf = out, rf
    return Analysis(network=network, batch=batch, dtype=dtype, root=root)


#: the receptive field of every output made so far, by path (what `from:` reads); under
#: WHOLE the whole input's (what attention's outputs see)
Seen = dict[str, RF]
WHOLE = "<the whole input>"


def _fold(parent: Row, nodes: list[tuple[str, Node]], shape: Shape, rf: RF,
          depth: int, seen: Seen) -> tuple[Shape, RF]:
    for role, node in nodes:
        row = _analyze(node, role, rf, depth, seen)
        parent.add(row)
        shape, rf = row.output, row.rf
    return shape, rf


def _analyze(node: Node, role: str, rf: RF, depth: int, seen: Seen) -> Row:
    if node.sources and not isinstance(node, Join):
        rf = seen[node.sources[0]]  # it reads a named earlier output, not the one before
    if isinstance(node, LayerNode):
        row = _layer(node, role, rf, depth, seen[WHOLE])
    elif isinstance(node, Join):
        row = _join(node, role, depth, seen)
    else:
        row = Row(path=node.path, kind=node.kind, depth=depth, node=node, input=node.input,
                  output=node.output, rf=rf, role=role)
        if isinstance(node, Concat):
            _concat(row, node, rf, depth, seen)
        elif isinstance(node, Residual):
            _residual(row, node, rf, depth, seen)
        elif isinstance(node, Gate):
            _gate(row, node, rf, depth, seen)
        else:
            row.output, row.rf = _fold(row, parts(node), node.input, rf, depth + 1, seen)
    seen[node.path] = row.rf
    return row


def _join(node: Join, role: str, depth: int, seen: Seen) -> Row:
    """Named outputs joined: an add or multiply does one op per output element for each
    input after the first, reading every input element; a concat copies. Its receptive
    field is the widest of its inputs'; its jump is that of the inputs as large as its
    output (a Cx1x1 factor broadcast over a map, squeeze-and-excitation's, lies on the map's
    grid, as the gate composite's does)."""
    rfs = [seen[source] for source in node.sources]
    rf = rfs[0]
    for other in rfs[1:]:
        rf = rf.widest(other)
    full = [r for r, shape in zip(rfs, node.shapes) if shape[1:] == node.output[1:]]
    if full and len(full) < len(rfs):
        rf = RF(rf.size, (max(r.jump[0] for r in full), max(r.jump[1] for r in full)))
    out = elements(node.output)
    ops = 0 if node.op == "concat" else out * (len(node.sources) - 1)
    reads = 0 if node.op == "concat" else sum(elements(s) for s in node.shapes)
    return Row(path=node.path, kind=node.op, depth=depth, node=node, input=node.input,
               output=node.output, rf=rf, role=role, activations=out, op=node.op,
               sums={"other_ops": ops, "connections": reads})


def _layer(node: LayerNode, role: str, rf: RF, depth: int, whole: RF) -> Row:
    cost = node.cost
    if cost is None:
        raise ValueError(f"{node.path} was not resolved: its cost is not recorded")
    own = node.owner is None and trains(node)  # its own parameters, trained
    rf = RF(whole.widest(rf).size, rf.jump) if cost.rf_global else \
        rf.step(cost.rf_kernel, cost.rf_stride, cost.rf_upsample)  # global: the whole input
    return Row(path=node.path, kind=node.kind, depth=depth, node=node, input=node.input,
               output=cost.output, role=role, rf=rf,
               cost=cost, trainable=cost.params if own else 0,
               activations=elements(cost.output))


def _concat(row: Row, node: Concat, rf: RF, depth: int, seen: Seen) -> None:
    """Branches see the same input (a split gives each its share of the channels, a view);
    outputs join along channels (dim 1 in torch), then the `after` layers."""
    widest = rf
    for branch in node.branches:
        child = _analyze(branch, "branch", rf, depth + 1, seen)
        row.add(child)
        widest = widest.widest(child.rf)
    # torch.cat writes a new tensor: its own row, so that rows shown at any depth add up.
    row.add(_op_row("concat", node, depth, node.joined, widest, ops=0, reads=0))
    row.output, row.rf = _fold(row, [("after", n) for n in node.after], node.joined, widest,
                               depth + 1, seen)


def _gate(row: Row, node: Gate, rf: RF, depth: int, seen: Seen) -> None:
    """x * gate(x): the gate's Cx1x1 (or CxHxW) broadcast over x, one multiply per element.
    Each output reads everything the gate read, on x's own grid."""
    shape = node.input
    _, gate_rf = _fold(row, parts(node), shape, rf, depth + 1, seen)
    seen = RF(rf.widest(gate_rf).size, rf.jump)
    row.add(_op_row("mul", node, depth, shape, seen, ops=elements(shape),
                    reads=2 * elements(shape)))
    row.output, row.rf = shape, seen


def _residual(row: Row, node: Residual, rf: RF, depth: int, seen: Seen) -> None:
    shape = node.input
    body_out, body_rf = _fold(row, [("body", n) for n in node.body], shape, rf, depth + 1,
                              seen)
    shortcut = node.shortcut
    if isinstance(shortcut, Sequence):
        side = _analyze(shortcut, "shortcut", rf, depth + 1, seen)
        row.add(side)
        side_out, body_rf = side.output, body_rf.widest(side.rf)
    else:
        side_out = shape
    if side_out != body_out:  # an identity or the spec's shortcut layers that do not fit
        what = "the input" if shortcut == "identity" else "the shortcut's output"
        hint = _identity_hint(node, shape, body_out, rf, body_rf) if shortcut == "identity" \
            else ""
        raise SpecError(f"residual add: the body gives {shape_text(body_out)} but {what} is "
                        f"{shape_text(side_out)}{hint}", node.mark, node.path)
    row.add(_op_row("add", node, depth, body_out, body_rf, ops=elements(body_out),
                    reads=2 * elements(body_out)))
    row.output, row.rf = _fold(row, [("after", n) for n in node.after], body_out, body_rf,
                               depth + 1, seen)


def _identity_hint(node: Residual, shape: Shape, body_out: Shape, rf: RF, body_rf: RF) -> str:
    """Suggest shortcut: auto only where a 1x1 projection with the body's own stride (as in
    ResNet) maps the input to the body's output; a body that shrinks the map through its
    kernels' borders (3x8x8 -> 3x1x1 at stride 1) needs padding or explicit shortcut layers."""
    # (at least 1: a body that upsamples has a finer jump than its input)
    strides = [max(body // start, 1) for body, start in zip(body_rf.jump, rf.jump)]
    sizes_match = len(shape) == 3 and len(body_out) == 3 and all(
        (size - 1) // stride + 1 == out for size, out, stride in zip(shape[1:], body_out[1:],
                                                                    strides))
    if sizes_match:
        return " (use shortcut: auto for a 1x1 projection)"
    return (f" (no 1x1 projection with the body's stride {shape_text(strides)} maps "
            f"{shape_text(shape)} to {shape_text(body_out)}: pad the body's layers, e.g. "
            "padding: same, "
            "or give the shortcut layers explicitly)")


def _op_row(op: str, node: Node, depth: int, output: Shape, rf: RF, ops: int,
            reads: int) -> Row:
    """The add or concat that joins a composite's paths, as a row of its own."""
    path = f"{node.path}.({op})" if node.path else f"({op})"
    return Row(path=path, kind=op, depth=depth + 1, node=node, input=output, output=output,
               rf=rf, activations=elements(output), op=op,
               sums={"other_ops": ops, "connections": reads})


def analyze(spec: str | Network, overrides: Mapping[str, Any] | None = None,
            input: str | tuple[int, ...] | None = None, batch: int = 1,
            dtype: str = "fp32") -> Analysis:
    """Static analysis of a spec: `cnncli.analyze("resnet50").totals()["macs"]`."""
    if batch < 1:
        raise UsageError(f"batch must be at least 1, got {batch}")
    if dtype not in DTYPE_BYTES:
        raise UsageError(f"dtype must be one of {', '.join(DTYPE_BYTES)}, got {dtype!r}")
    return analyze_network(load(spec, overrides, input), batch=batch, dtype=dtype)
