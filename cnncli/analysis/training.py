"""Training memory from the spec: parameters, gradients, optimizer state, and the
activations autograd saves for backward, each layer's share from its own `saved` rule.

The walk follows tensors, not rows: a layer's input is its predecessor's output (or, in a
residual or concat, the block's input), a view (flatten) is its input's storage, and a
tensor kept by two layers (a conv's output saved by the batch norm after it, a ReLU's
output saved by the conv after it) is counted once, at the first layer that keeps it.
The network's input is not counted (the caller owns it). Each tensor's memory order
(channels-last after a map's layer_norm or a pointwise linear) is followed too, since it
decides where torch's reshapes copy. See docs/counting.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from ..layers.base import Layout, Saved, Shape
from ..layers.window import elements
from ..spec.ir import INPUT, Concat, Gate, Join, Residual
from .analyze import Analysis, Row
from .choices import DTYPE_BYTES, OPTIMIZER_COPIES, TRAINING_DEVICES
from .table import mib

HALF = 2


@dataclass(frozen=True)
class _Tensor:
    key: int  # 0 is the network's input
    grad: bool  # requires grad
    last: bool = False  # lies channels-last (see Layout)
    dense: bool = True  # False: a split's share of a wider tensor
    #: its strides are channels-last's even where that order is not distinct (one channel, or
    #: one position): torch.cat and the convs still follow them (suggest_memory_format)
    strided: bool = False


def _channels_last(shape: Shape, last: bool) -> bool:
    """Only a map (or tokens) with several channels and several positions has two distinct
    orders."""
    return last and len(shape) > 1 and shape[0] > 1 and elements(shape[1:]) > 1


@dataclass
class Training:
    """Predicted training memory at one batch size, in bytes."""

    batch: int
    optimizer: str
    amp: bool
    device: str
    param_bytes: int
    buffer_bytes: int
    grad_bytes: int
    optimizer_bytes: int
    saved_activation_bytes: int
    saved_by_row: dict[str, int] = field(default_factory=dict)  # leaf path -> its share

    @property
    def total_bytes(self) -> int:
        return (self.param_bytes + self.buffer_bytes + self.grad_bytes + self.optimizer_bytes
                + self.saved_activation_bytes)

    def as_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "optimizer": self.optimizer, "amp": self.amp,
                "device": self.device, "param_bytes": self.param_bytes,
                "buffer_bytes": self.buffer_bytes, "grad_bytes": self.grad_bytes,
                "optimizer_bytes": self.optimizer_bytes,
                "saved_activation_bytes": self.saved_activation_bytes,
                "total_bytes": self.total_bytes}

    # the report asks the prediction for its rows and lines, so that a summary without
    # --train does not import this module at all
    def saved(self, row: Row) -> int:
        return row_saved(row, self)

    def lines(self, fits: tuple[int, int] | None) -> list[tuple[str, str]]:
        return training_lines(self, fits)


class _Walk:
    """Follows tensors through the analysed tree and charges each saved storage once."""

    def __init__(self, batch: int, element: int, amp: bool, device: str):
        self.batch, self.element, self.amp, self.device = batch, element, amp, device
        self.seen: set[int] = set()
        self.made = 0  # tensors made so far; each one's key
        self.by_row: dict[str, int] = {}
        self.sizes: dict[int, int] = {}  # elements per sample of each storage (views: whole)
        self.named: dict[str, _Tensor] = {}  # every node's output by path (what from: reads)
        self.cast: set[str] = set()  # layers whose weights' half copy is kept

    def cast_before(self, row: Row) -> bool:
        """Whether the half copy of a row's trained weights is kept already: autocast casts
        a weight that needs a gradient once and keeps the copy, so layers that share it
        (`shares:`) keep one."""
        weights = (row.owner or row.node).path
        if weights in self.cast:
            return True
        self.cast.add(weights)
        return False

    def new(self, grad: bool, shape: tuple[int, ...], last: bool = False) -> _Tensor:
        self.made += 1
        self.sizes[self.made] = elements(shape)
        return _Tensor(self.made, grad, _channels_last(shape, last), strided=last)

    def node(self, row: Row, x: _Tensor) -> _Tensor:
        node = row.node
        if node.sources and not isinstance(node, Join):
            x = self.named[node.sources[0]]
        self.named[row.path] = out = self.output(row, x)
        return out

    def output(self, row: Row, x: _Tensor) -> _Tensor:
        if row.is_layer:
            return self.layer(row, x)
        if isinstance(row.node, Join):
            return self.join(row, row.node)
        if isinstance(row.node, Residual):
            return self.residual(row, x)
        if isinstance(row.node, Concat):
            return self.concat(row, x)
        if isinstance(row.node, Gate):
            return self.gate(row, x)
        for child in row.children:
            x = self.node(child, x)
        return x

    def join(self, row: Row, node: Join) -> _Tensor:
        """Named outputs joined: add and cat keep nothing for backward; each multiply
        keeps its two operands (each one's gradient needs the other)."""
        ins = [self.named[path] for path in node.sources]
        charged = 0
        if node.op == "multiply":
            acc = ins[0]
            for other in ins[1:]:
                if acc.grad:
                    charged += self.charge(Saved("output", 0), None, acc, other)
                if other.grad:
                    charged += self.charge(Saved("input", 0), None, acc, other)
                acc = self.new(acc.grad or other.grad, row.output, acc.last)
            self.by_row[row.path] = charged
            return acc
        self.by_row[row.path] = 0
        grad = any(t.grad for t in ins)
        if node.op == "concat":  # torch.cat's rule: channels-last when every part is
            return self.new(grad, row.output, all(t.strided for t in ins))
        acc = ins[0]  # a chain of adds: each sum a new tensor in the first operand's order
        for _ in ins[1:]:
            acc = self.new(grad, row.output, acc.last)
        return acc

    def concat(self, row: Row, x: _Tensor) -> _Tensor:
        """Branches on x (a split's shares are views of x); cat's backward keeps nothing.
        The joined tensor lies channels-last when every part does (torch.cat's rule)."""
        outs: list[_Tensor] = []
        out = x
        node = row.node
        if isinstance(node, Concat) and node.split and len(node.branches) > 1:
            x = _Tensor(x.key, x.grad, x.last, dense=False, strided=x.strided)
        for child in row.children:
            if child.op == "concat" and child.node is node:  # its own, not a join in it
                self.by_row[child.path] = 0
                out = self.new(any(t.grad for t in outs), child.output,
                               all(t.strided for t in outs))
            elif child.role == "branch":
                outs.append(self.node(child, x))
            else:
                out = self.node(child, out)  # the layers after the join
        return out

    def gate(self, row: Row, x: _Tensor) -> _Tensor:
        """x * g: the multiply keeps g to give x's gradient and x to give g's."""
        g = x
        for child in row.children:
            if child.op != "mul":
                g = self.node(child, g)
                continue
            charged = 0
            if x.grad:
                charged += self.charge(Saved("output", elements(child.input)), None, x, g)
            if g.grad:
                charged += self.charge(Saved("input", elements(child.input)), None, x, g)
            self.by_row[child.path] = charged
            return self.new(x.grad or g.grad, child.output, x.last)  # x's order: the first
        raise AssertionError("a gate ends with its multiply")

    def residual(self, row: Row, x: _Tensor) -> _Tensor:
        out, side = x, x
        for child in row.children:
            if child.op == "add" and child.node is row.node:  # its own, not a join in it
                self.by_row[child.path] = 0  # the add's backward keeps nothing
                # body + shortcut: torch gives the sum the first operand's memory order
                out = self.new(out.grad or side.grad, child.output, out.last)
            elif child.role == "shortcut":
                side = self.node(child, x)
            else:
                out = self.node(child, out)
        return out

    def layer(self, row: Row, x: _Tensor) -> _Tensor:
        layer, cost = row.layer, row.cost
        trainable = row.weights_train  # a shared weight's gradient too
        grad = x.grad or trainable
        layout = Layout(x.last, x.dense, self.batch)
        if layer.output_is_input(row.input, layout):
            out = _Tensor(x.key, grad, x.last, layer.view_dense(row.input, layout), x.strided)
        else:
            out = self.new(grad, row.output, layer.channels_last(row.input, x.strided))
        charged = 0
        if grad:  # else autograd records nothing for this layer
            assert cost is not None  # a layer row keeps its node's cost
            for item in layer.saved(row.input, cost, x.grad, trainable):
                if item.dtype == "half" and not self.amp:
                    continue  # autocast's copy of a weight: no such tensor without it
                if item.dtype == "half" and trainable and self.cast_before(row):
                    continue
                if item.folded and not layout.folds(row.input):
                    item = item.replace(what="folded copy")  # a new tensor
                if item.single is not None and self.batch == 1:
                    item = item.replace(elements=item.single)
                charged += self.charge(item, layer, x, out)
        self.by_row[row.path] = charged
        return out

    def charge(self, item: Saved, layer: Any, x: _Tensor, out: _Tensor) -> int:
        """Bytes of `item` unless its storage is the network's input or already counted."""
        key = {"input": x.key, "output": out.key}.get(item.what, -1)
        cast = self.amp and layer is not None and layer.autocast == "half" \
            and item.what == "input" and key == 0
        if cast:
            key = -1  # autocast's half copy of the fp32 network input is a new tensor
        if key == 0 or key in self.seen:
            return 0
        if key > 0:
            self.seen.add(key)
        # A view (a split's share) keeps its whole storage alive.
        count = self.sizes.get(key, item.elements) if key > 0 else item.elements
        count *= self.batch if item.per_sample else 1
        return count * self.dtype_bytes(item, layer)

    def dtype_bytes(self, item: Saved, layer: Any) -> int:
        if item.dtype == "int64":
            return 8
        if item.dtype == "half":
            return HALF
        if item.dtype == "fp32":
            return 4
        if item.dtype == "mask" and self.device == "cuda":
            return 1  # the fused CUDA dropout keeps a bool mask
        if self.amp and not (layer is not None and layer.autocast == "fp32"
                             and item.what == "output"):
            return HALF
        return self.element


def training_memory(analysis: Analysis, optimizer: str = "sgd", amp: bool = False,
                    device: str = "cuda") -> Training:
    """Predicted bytes of one training step at the analysis's batch and dtype."""
    if optimizer not in OPTIMIZER_COPIES:
        raise UsageError(f"optimizer must be one of {', '.join(OPTIMIZER_COPIES)}, "
                         f"got {optimizer!r}")
    if device not in TRAINING_DEVICES:
        raise UsageError(f"device must be one of {', '.join(TRAINING_DEVICES)}, got {device!r}")
    element = DTYPE_BYTES[analysis.dtype]
    walk = _Walk(analysis.batch, element, amp, device)
    walk.named[INPUT] = x = _Tensor(0, False)
    walk.node(analysis.root, x)
    root = analysis.root
    return Training(
        batch=analysis.batch, optimizer=optimizer, amp=amp, device=device,
        param_bytes=root.params * element, buffer_bytes=root.buffer_bytes,
        grad_bytes=root.trainable * element,
        optimizer_bytes=OPTIMIZER_COPIES[optimizer] * root.trainable * element,
        saved_activation_bytes=sum(walk.by_row.values()), saved_by_row=walk.by_row)


def max_batch(analysis: Analysis, budget: int, optimizer: str = "sgd", amp: bool = False,
              device: str = "cuda") -> int:
    """The largest batch whose predicted total fits in `budget` bytes (0: not even 1).

    Saved activations grow linearly with the batch (the per-channel statistics do not),
    so from batch 2 on the total is a + b·N and the answer follows from batches 2 and 3
    directly. Batch 1 is off that line where torch's reshapes of a single sample are views
    that copy at any larger batch (Layout.folds), so it is checked on its own.
    """
    def total(batch: int) -> int:
        return training_memory(_at(analysis, batch), optimizer, amp, device).total_bytes

    if total(1) > budget:
        return 0
    two = total(2)
    if two > budget:
        return 1
    per = total(3) - two
    return 2**31 - 1 if per <= 0 else 2 + (budget - two) // per


def _at(analysis: Analysis, batch: int) -> Analysis:
    return Analysis(network=analysis.network, batch=batch, dtype=analysis.dtype,
                    root=analysis.root)


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text: str) -> int:
    """'8GiB', '512 MB', '1000000' -> bytes; UsageError naming the value otherwise."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise UsageError(f"--max-batch takes a memory size such as 8GiB, 512MB or 1000000 "
                         f"(bytes), got {text!r}")
    return int(float(match.group(1)) * _UNITS[unit])


def row_saved(row: Row, t: Training) -> int:
    """Saved bytes of a row shown in a table: its own, or the sum over a collapsed block."""
    return sum(t.saved_by_row.get(r.path, 0) for r in row.walk() if r.is_leaf)


def training_lines(t: Training, fits: tuple[int, int] | None) -> list[tuple[str, str]]:
    """The training-memory lines under the summary's totals."""
    kind = f"{t.optimizer}, {'AMP, ' if t.amp else ''}batch {t.batch}, for {t.device}"
    copies = OPTIMIZER_COPIES[t.optimizer]
    lines = [
        ("Training memory", kind),
        ("  Parameters + buffers", mib(t.param_bytes + t.buffer_bytes)),
        ("  Gradients", mib(t.grad_bytes)),
        ("  Optimizer state", f"{mib(t.optimizer_bytes)} ({copies} cop"
         f"{'y' if copies == 1 else 'ies'} of the trainable params)"),
        ("  Saved for backward", f"{mib(t.saved_activation_bytes)} "
         f"({t.saved_activation_bytes:,} bytes; the input not counted)"),
        ("  Total", f"{mib(t.total_bytes)} ({t.total_bytes:,} bytes; no allocator slack, "
         "cuDNN workspace or backward temporaries)"),
    ]
    if fits is not None:
        budget, batch = fits
        lines.append((f"Largest batch in {mib(budget)}",
                      f"{batch:,}" if batch else "none: batch 1 does not fit"))
    return lines
