"""ONNX files as specs: `cnncli summary model.onnx` and `cnncli import model.onnx`.

`proto` reads the file (protobuf's wire format, bounded, no code run, no dependency),
`tensors` its numbers, `follow` walks the graph from its input (`graph` holds the walk's
state, `fold` folds shape arithmetic to constants), translating each operator with `ops`,
`layout` and `patterns` into cnncli entries; `tree` places them in the module tree the
exporter recorded and `emit` writes the spec, repeated units as a block. An operator cnncli
cannot price or build becomes an `onnx_op` entry: its shape is the file's, its work is
unknown, and the totals say they are partial.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from . import emit
from .follow import follow
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
        return [e for e in self.entries if e.kind == "onnx_op"]


def load(path: str | Path, input_shape: tuple[int, ...] | None = None) -> Imported:
    """Read `path` and translate it. Raises UsageError with one sentence for a file that is
    not a readable ONNX model."""
    path = Path(path)
    try:
        model = read(path)
        walk, shape = follow(model, input_shape)
    except BadFile as exc:
        raise UsageError(f"{path}: not a readable ONNX model: {exc}") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror})") from None
    outputs = [walk.val(o.name).entry for o in model.graph.outputs]
    if any(o is None for o in outputs):
        raise UsageError(f"{path}: an output of the graph is a constant, not computed from "
                         "its input")
    header = [f"Imported by cnncli from {path.name}: {model.producer or 'unknown producer'}, "
              f"ONNX opset {model.opsets.get('ai.onnx', '?')}, "
              f"{len(model.graph.nodes):,} nodes."]
    if walk.unpriced:
        ops = sorted({e.options["op"] for e in walk.unpriced})
        header.append(f"Not priced or buildable: {', '.join(ops)} (onnx_op entries).")
    text, paths = emit.spec_text(walk.entries, shape, outputs, _name(path), header)
    return Imported(text, model, walk.entries, paths)


def _name(path: Path) -> str:
    stem = path.name.split(".")[0] or "imported"
    return stem if stem[0].isalpha() else f"net_{stem}"
