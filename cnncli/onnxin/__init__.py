"""ONNX files as specs: `cnncli summary model.onnx` and `cnncli import model.onnx`.

`proto` reads the file (protobuf's wire format, bounded, no code run, no dependency),
`tensors` its numbers, `follow` walks the graph from its input (`graph` holds the walk's
state, `fold` folds shape arithmetic to constants), translating each operator with `ops`,
`layout` and `patterns` (YOLOv8's decoding with `detect`, LeNet-5's own units with `lenet`,
a transformer's attention with `attention`, following its full shapes with `shapes`, Swin's
patch merging with `merge`, MaxViT's partitions with `partition`) into cnncli entries;
`tree` places them in the module tree the exporter recorded and `emit` writes the spec,
repeated units as a block. An operator cnncli cannot price or build becomes an `onnx_op`
entry: its shape is the file's, its work is unknown, and the totals say they are partial.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError, tell
from ..layers import REGISTRY
from . import emit
from .follow import attention_products, follow
from .graph import Entry
from .proto import BadFile, Model, read


@dataclass
class Imported:
    """An ONNX file as a spec: its text, the model read, the entries and their paths."""

    text: str
    model: Model
    entries: list[Entry]
    paths: dict[int, list[str]]

    @property
    def unpriced(self) -> list[Entry]:
        """The entries whose work cnncli does not know (onnx_op)."""
        return [e for e in self.entries if e.kind == "onnx_op"]


def load(path: str | Path, input_shape: tuple[int, ...] | None = None) -> Imported:
    """Read `path` and translate it. Raises UsageError with one sentence for a file that is
    not a readable ONNX model."""
    path = Path(path)
    try:
        model = read(path)  # raises BadFile or OSError, never UsageError
        walk, shape = follow(model, input_shape)
    except BadFile as exc:
        raise UsageError(f"{path}: not a readable ONNX model: {exc}") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror})") from None
    except UsageError as exc:  # where the walk stops: a transformer's graph says so
        raise UsageError(str(exc) + _transformer_hint(model)) from None
    outputs = [walk.val(o.name).entry for o in model.graph.outputs]
    if any(o is None for o in outputs):
        raise UsageError(f"{path}: an output of the graph is a constant, not computed from "
                         "its input")
    producer = " ".join(p for p in (model.producer, model.producer_version) if p)
    origin = (f"imported from {path.name} ({producer or 'unknown producer'}, ONNX opset "
              f"{model.opsets.get('ai.onnx', '?')}, {len(model.graph.nodes):,} nodes)")
    header = [f"Written by cnncli import: {origin}."]
    ops = sorted({e.options["op"] for e in walk.entries if e.kind == "onnx_op"})
    if ops:
        header.append(f"Not priced or buildable: {', '.join(ops)} (onnx_op entries).")
    tie_shared(walk.entries)
    text, paths = emit.spec_text(walk.entries, shape, outputs, _name(path), origin, header)
    shared = _shared(walk.entries, model)  # after the spec: it unties what it cannot name
    if shared:
        lines = text.split("\n")
        lines.insert(len(header), f"# {shared}")
        text = "\n".join(lines)
        tell("note", f"{path}: {shared}")
    return Imported(text, model, walk.entries, paths)


def _transformer_hint(model: Model) -> str:
    """Where a graph cnncli cannot follow multiplies activations by activations, why: it
    is a transformer's whose attention is not one of the forms cnncli reads."""
    try:
        products = attention_products(model)
    except BadFile:
        return ""
    if not products:
        return ""
    first = products[0].name or "MatMul"
    return (f". The graph is a transformer's: {len(products)} MatMul or Einsum node(s) multiply "
            f"activations by activations, as attention does (the first: {first!r}); cnncli "
            "reads ViT's global attention, Swin's shifted windows and MaxViT's blocks and grids "
            "as exporters write them, and this graph's attention is none of those")


def tie_shared(entries: list[Entry]) -> None:
    """A layer that reads the very weights an earlier layer of its type reads, read the
    same way, with the same arguments they depend on, recorded under the same module (a
    module called twice), uses that layer's (`shares:`): the spec counts them once, as the
    file holds them once. (Exporters also merge equal constants, such as the ones and zeros
    of untrained norms in different modules: those stay apart.)"""
    first: dict[str, int] = {}
    for i, entry in enumerate(entries):
        depends = REGISTRY[entry.kind].weight_args if entry.kind in REGISTRY else None
        if not entry.weights or depends is None:
            continue
        key = repr((entry.kind, entry.scope, sorted(entry.weights.items()),
                    [entry.options.get(name) for name in depends]))
        if key in first:
            entry.owner = first[key]
        else:
            first[key] = i


def _shared(entries: list[Entry], model: Model) -> str:
    """What to say of weights several layers read that they cannot share (`shares:` needs
    the same weights read the same way): the spec gives each its own copy, so its
    parameter total counts them once per use."""
    readers: dict[str, int] = {}
    for entry in entries:
        if entry.owner is not None:
            continue  # it shares its owner's: counted there
        for init in {init for init, _ in entry.weights.values() if init}:  # each layer once
            readers[init] = readers.get(init, 0) + 1
    shared = {name: n for name, n in readers.items() if n > 1}
    if not shared:
        return ""
    extra = sum((n - 1) * model.graph.initializers[name].size for name, n in shared.items()
                if name in model.graph.initializers)
    names = ", ".join(sorted(shared)[:3]) + (", ..." if len(shared) > 3 else "")
    return (f"{len(shared)} weight(s) are read by several layers ({names}); the spec gives "
            f"each layer its own copy, so its params count {extra:,} more numbers than the "
            "file holds")


def _name(path: Path) -> str:
    stem = path.name.split(".")[0] or "imported"
    return stem if stem[0].isalpha() else f"net_{stem}"
