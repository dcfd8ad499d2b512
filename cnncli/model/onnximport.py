"""`cnncli import model.onnx -o net.yaml`: the spec, the weights beside it (`net.pt`, a
state_dict read with weights_only), and a check that the spec built with those weights gives
onnxruntime's outputs on the file."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import UsageError
from ..layers.modules_tokens import relative_position_index
from ..onnxin import Imported
from ..onnxin.proto import BadFile
from ..onnxin.tensors import array, has_data
from ..spec.load import load_file
from .build import build
from .export import check_target


#: how a weight's numbers become the torch parameter's (ONNX's MatMul holds W transposed)
def _swin_table(bias: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A Swin block's bias table ((2w - 1)², heads) from the bias an exporter computed from
    it, (1, heads, w², w²): each row read where the block's index points to it."""
    rows, heads = shape
    index = relative_position_index((math.isqrt(rows) + 1) // 2).numpy()
    table = np.zeros(shape, bias.dtype)
    table[index] = bias.reshape(heads, -1).T
    return table


TRANSFORMS = {"": lambda a, shape: a, "T": lambda a, shape: a.T,
              "chw": lambda a, shape: a.reshape(shape),
              "swap": lambda a, shape: a.transpose(0, 2, 1),  # (1, D, L) tokens to (1, L, D)
              "swin_table": _swin_table}


@dataclass
class ImportResult:
    spec: Path
    weights: Path
    tensors: int
    max_abs_diff: float | None  # against onnxruntime, when it is installed and runs the file
    scale: float = 0.0  # the largest |output| onnxruntime gave, to read the difference by
    unchecked: str = ""  # why not, where it was not compared


def transformed(how: str, values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A weight's numbers as the torch parameter holds them: `how` is a TRANSFORMS key, or
    "/N" for a factor the exporter multiplied by N (a subsampling's window area)."""
    if how.startswith("/"):
        return values.reshape(shape) / float(how[1:])
    return TRANSFORMS[how](values, shape)


def refuse_unpriced(imported: Imported, source: str) -> None:
    """Exit 2 naming every node the spec could not express: never a spec that drops work."""
    places = [(e, imported.paths[i]) for i, e in enumerate(imported.entries)
              if e.kind == "onnx_op"]
    if not places:
        return
    listed = "; ".join(f"{e.options['op']} at {'.'.join(path)} ({e.note})"
                       for e, path in places[:6])
    more = f" and {len(places) - 6} more" if len(places) > 6 else ""
    raise UsageError(f"{source}: {len(places)} node(s) cnncli cannot express as "
                     f"layers: {listed}{more}; `cnncli summary {source}` shows the rest of the "
                     "network (its totals marked partial)")


def state_dict(imported: Imported, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The file's initializers under the built model's keys, every key filled."""
    want = model.state_dict()
    state: dict[str, torch.Tensor] = {}
    for i, entry in enumerate(imported.entries):
        for param, (init, how) in entry.weights.items():
            key = ".".join([*imported.paths[i], param])
            if how == "own" and key in want:  # a buffer the module makes (Swin's index)
                state[key] = want[key]
                continue
            tensor = imported.model.graph.initializers.get(init)
            if key not in want or tensor is None:
                continue
            if not has_data(tensor):
                raise UsageError(f"{imported.model.path}: weight {init!r} holds no numbers "
                                 "(a file exported without its weights)")
            values = transformed(how, array(imported.model, tensor), tuple(want[key].shape))
            state[key] = torch.from_numpy(np.ascontiguousarray(values)).to(want[key].dtype)
    for key, value in want.items():
        if key not in state and key.endswith("num_batches_tracked"):
            state[key] = value
    missing = [k for k in want if k not in state]
    if missing:
        raise UsageError(f"{imported.model.path}: no initializer for {', '.join(missing[:4])}")
    return state


def import_onnx(imported: Imported, output: str, force: bool) -> ImportResult:
    spec_path = check_target(output, force)
    weights_path = check_target(str(spec_path.with_suffix(".pt")), force)
    refuse_unpriced(imported, str(imported.model.path))
    spec_path.write_text(imported.text)  # read back below; removed if anything fails
    try:
        network = load_file(str(spec_path), None)
        model = build(network, init="torch")
        try:
            state = state_dict(imported, model)
        except BadFile as exc:
            raise UsageError(f"{imported.model.path}: {exc}") from None
        model.load_state_dict(state, strict=True)
        torch.save(model.state_dict(), weights_path)
        diff, scale, unchecked = compare_with_onnxruntime(imported.model.path, model,
                                                          network.input)
    except BaseException:
        spec_path.unlink(missing_ok=True)
        weights_path.unlink(missing_ok=True)
        raise
    return ImportResult(spec_path, weights_path, len(state), diff, scale, unchecked)


def compare_with_onnxruntime(path: Path, model: torch.nn.Module,
                             shape: tuple[int, ...]) -> tuple[float | None, float, str]:
    """Max |difference| of the model's outputs from onnxruntime's on one random input and
    the largest |output|, or None and why not (onnxruntime, the `onnx` extra, is not
    installed or refuses the file)."""
    try:
        import onnxruntime
    except ImportError:
        return None, 0.0, "onnxruntime is not installed (pip install 'cnncli[onnx]')"
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own errors have no common base  # noqa: BLE001
        return None, 0.0, f"onnxruntime cannot run the file ({str(exc).splitlines()[0][:200]})"
    feed = session.get_inputs()[0]
    batch = feed.shape[0] if isinstance(feed.shape[0], int) else 1
    x = np.random.default_rng(0).standard_normal((batch, *shape)).astype(np.float32)
    want = session.run(None, {feed.name: x})
    model.eval()
    with torch.no_grad():
        got = model(torch.from_numpy(x))
    got = got if isinstance(got, (tuple, list)) else [got]
    diff = max(float(np.abs(g.numpy() - w).max()) for g, w in zip(got, want))
    return diff, max(float(np.abs(w).max()) for w in want), ""
