"""Random valid specs (tests/specgen.py) pass check, verify against torch, and predict their
training memory to the byte.

For each seeded spec: `cnncli check` accepts it (in-process, one `ok` line), `verify` on the
meta device finds no layer where the analysis and torch disagree, and `summary --train`'s
saved-activation bytes equal what autograd keeps in a training step on the CPU (the
saved-tensors-hooks oracle of cnncli.model.memory, as
tests/analysis/test_training_memory.py uses it).
The batch is 2 (per-sample and per-channel tensors differ), and 1 for every third seed (where
torch's reshapes of a batch of one are views), unless a batch norm there would see one value
per channel, which torch refuses to train. FIRST seeds always run; the rest are slow.
"""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path

import pytest
import torch
import yaml
from specgen import random_spec

import cnncli
from cnncli.analysis.analyze import Analysis
from cnncli.analysis.training import max_batch, training_memory
from cnncli.commands import main
from cnncli.layers import REGISTRY
from cnncli.model.memory import saved_activation_bytes
from cnncli.model.verify import verify_analysis

FIRST = 40
CORPUS = 300


def check_cli(path: Path) -> tuple[object, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code: object = "returned without exiting"
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(["check", str(path)])
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def batch_for(seed: int, analysis: Analysis) -> int:
    one_value = any(row.kind == "batchnorm" and math.prod(row.input[1:]) == 1
                    for row in analysis.root.walk())
    return 1 if seed % 3 == 0 and not one_value else 2


def run_seed(tmp_path: Path, seed: int) -> None:
    text = random_spec(seed)
    path = tmp_path / f"random{seed}.yaml"
    path.write_text(text, encoding="utf-8")
    code, out, err = check_cli(path)
    assert code == 0 and err == "" and out.startswith(f"ok  {path}: random{seed}"), \
        f"{err}\n{text}"
    analysis = cnncli.analyze(str(path))
    batch = batch_for(seed, analysis)
    analysis = cnncli.analyze(str(path), batch=batch)
    problem = verify_analysis(analysis, "meta").first_disagreement()
    assert problem is None, f"{problem}\n{text}"
    predicted = training_memory(analysis, device="cpu").saved_activation_bytes
    torch.manual_seed(seed)
    model = cnncli.build(str(path))
    real = saved_activation_bytes(model, torch.randn(batch, *analysis.input))
    assert predicted == real, \
        f"batch {batch}: predicted {predicted:,} bytes, autograd keeps {real:,}\n{text}"


def test_same_seed_same_text() -> None:
    assert random_spec(7) == random_spec(7)
    assert random_spec(7) != random_spec(8)


@pytest.mark.parametrize("seed", range(FIRST))
def test_random_spec(tmp_path: Path, seed: int) -> None:
    run_seed(tmp_path, seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(FIRST, CORPUS))
def test_random_spec_corpus(tmp_path: Path, seed: int) -> None:
    run_seed(tmp_path, seed)


def constructs(doc: object, found: set[str]) -> set[str]:
    """The spec-language constructs a generated document uses (keys, forms, names)."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            found.add(REGISTRY[key].name if key in REGISTRY else key)
            if key == "shortcut":
                found.add(f"shortcut {value}" if isinstance(value, str) and " " not in value
                          else "shortcut list" if isinstance(value, list)
                          else "shortcut expression")
            if key == "branches":
                found.add(f"branches {type(value).__name__}")
                items = value.values() if isinstance(value, dict) else value
                found.update("empty branch" if b == [] else "list branch"
                             if isinstance(b, list) else "entry branch" for b in items)
            if isinstance(value, str):
                found.update(n for n in ("in_channels", "in_height", "in_width",
                                         "in_features") if n in value)
            constructs(value, found)
    elif isinstance(doc, list):
        for item in doc:
            constructs(item, found)
    return found


JOINS = ("add", "multiply", "concat")


def graph_constructs(doc: dict) -> set[str]:
    """The graph form a generated document uses: joins, where each `from:` name is defined
    (this list, an enclosing one, a block's inputs, the input; dotted), `like`, block
    inputs, `outputs` (with two names)."""
    found: set[str] = set()
    for block in (doc.get("blocks") or {}).values():
        inputs = block.get("inputs", [])
        if inputs:
            found.add("block inputs")
        for key in ("layers", "residual", "concat", "gate", "repeat"):
            if key in block:
                _walk(block[key], {"input", *inputs}, set(inputs), found)
    _walk(doc["layers"], {"input"}, set(), found)
    outputs = doc.get("outputs", [])
    found.update({"outputs"} if outputs else set(), {"outputs 2"} if len(outputs) > 1 else set())
    return found


def _walk(raw: object, outer: set[str], inputs: set[str], found: set[str]) -> None:
    """Entries (a list, one entry, or a composite's mapping) with the names they see."""
    if isinstance(raw, dict) and len(raw) != 1:  # a composite's or block body's mapping
        for value in raw.values():
            _walk(value, outer, inputs, found)
        return
    local: set[str] = set()
    for entry in raw if isinstance(raw, list) else [raw]:
        if not isinstance(entry, dict):
            continue
        (kind, args), = entry.items()
        args = args if isinstance(args, dict) else {}
        names = args.get("from", [])
        for name in names if isinstance(names, list) else [names]:
            head = name.split(".")[0]
            found.add("from input" if head == "input" else "from block input"
                      if head in inputs else "from this list" if head in local
                      else "from an enclosing list")
            if "." in name:
                found.add("from dotted")
        if kind in JOINS and "from" in args and "branches" not in args:
            found.add(f"join {kind}" + (" of 3" if len(names) > 2 else ""))
        if "like" in args:
            found.add("like")
        for key, value in args.items():
            if key in ("layers", "after", "shortcut", "body") and isinstance(value, (list,
                                                                                      dict)):
                _walk(value, outer | local, inputs, found)
            if key == "branches":
                for branch in value.values() if isinstance(value, dict) else value:
                    _walk(branch, outer | local, inputs, found)
        if "name" in args:
            local.add(args["name"])


@pytest.mark.slow
def test_corpus_covers_the_language() -> None:
    """The seeds the slow test runs use every layer type, every composite form and every
    construct of the graph form."""
    found: set[str] = set()
    for seed in range(CORPUS):
        doc = yaml.safe_load(random_spec(seed))
        constructs(doc, found)
        found |= graph_constructs(doc)
    wanted = {cls.name for cls in REGISTRY.values()} | {
        "sequence", "residual", "concat", "gate", "repeat", "blocks", "params", "inline",
        "frozen", "when", "name", "shortcut auto", "shortcut identity", "shortcut none",
        "shortcut list", "shortcut expression", "shortcut_name", "after", "split",
        "branches dict", "branches list", "empty branch", "list branch", "entry branch",
        "var", "prefix", "start", "in_channels", "in_height", "in_width", "in_features",
        "connections", "groups", "dilation", "pointwise", "ceil_mode", "count_include_pad",
        "output_padding", "align_corners", "scale", "mode", "value",
        "join add", "join multiply", "join concat", "join add of 3", "join multiply of 3",
        "join concat of 3", "from input", "from block input", "from this list",
        "from an enclosing list", "from dotted", "like", "block inputs", "outputs",
        "outputs 2", "shares"}
    wanted.discard("yolo_decode")  # it takes C x anchors: tests/layers/test_yolo_layers.py
    wanted.discard("onnx_op")  # what import writes for an unknown operator: no torch module
    assert wanted - found == set()


FOUND = {  # smallest cases of what the corpus found, at batch 2: layers, input, saved bytes
    # a slice of some channels is no dense tensor: the shuffle after it copies (seeds 454
    # and 509 of a wider scan), and the conv keeps that copy: 2 · 2·15·8 · 4 bytes (was 0)
    "slice_then_shuffle": ("[6, 15, 8]", ["slice: {start: 4, stop: 6}",
                                          "channel_shuffle: {groups: 2}",
                                          "conv: {out: 4, kernel: 1, bias: false}"], 1920),
    # a frozen conv after a trainable one keeps its input: 2 · 3·6·6 · 4 bytes (was 0)
    "frozen_conv": ("[2, 6, 6]", ["conv: {out: 3, kernel: 1}",
                                  "conv: {out: 2, kernel: 3, frozen: true}"], 864),
    # a pointwise linear on an NCHW map keeps a channels-last copy beside relu's output
    "pointwise_copy": ("[3, 4, 4]", ["conv: {out: 4, kernel: 1}", "relu",
                                     "linear: {out: 2, pointwise: true}"], 1024),
    # ... but after layer_norm (channels-last) the fold is a view of relu's output
    "pointwise_view": ("[3, 4, 4]", ["conv: {out: 4, kernel: 1}", "layer_norm", "relu",
                                     "linear: {out: 2, pointwise: true}"], 1280),
    # ... and a split's one-channel share is copied (an NCHW map of one channel is not)
    "pointwise_share": ("[2, 3, 3]", ["conv: {out: 2, kernel: 1}", "relu",
                                      "concat: {split: true, branches: "
                                      "[[linear: {out: 2, pointwise: true}], []]}"], 216),
    # first subsample: only the means (no coefficients: its input needs no gradient)
    "subsample_first": ("[2, 4, 4]", ["subsample: {kernel: 2}"], 64),
    # first sparse conv: the gathered maps and the reorder's index, no gather indices
    "sparse_first": ("[3, 5, 5]", ["conv: {out: 2, kernel: 3, connections: [[0, 1], [2]]}"],
                     616),
    # channel_shuffle with one group is a view: relu's output is kept once, not twice
    "shuffle_view": ("[4, 3, 3]", ["conv: {out: 4, kernel: 1}", "relu",
                                   "channel_shuffle: {groups: 1}", "conv: {out: 2, kernel: 1}"],
                     288),
    # flatten copies a channels-last map: the linear keeps the copy
    "flatten_copy": ("[3, 4, 4]", ["conv: {out: 4, kernel: 1}", "layer_norm", "relu",
                                   "flatten", "linear: {out: 2}"], 1792),
}


def small_spec(tmp_path: Path, name: str, shape: str, layers: list[str]) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\ninput: {shape}\nlayers:\n"
                    + "".join(f"  - {layer}\n" for layer in layers), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", FOUND)
def test_found_case(tmp_path: Path, name: str) -> None:
    shape, layers, expected = FOUND[name]
    path = small_spec(tmp_path, name, shape, layers)
    analysis = cnncli.analyze(str(path), batch=2)
    real = saved_activation_bytes(cnncli.build(str(path)), torch.randn(2, *analysis.input))
    assert training_memory(analysis, device="cpu").saved_activation_bytes == real == expected


AMP = {  # conv and linear only: CPU autocast (bfloat16) casts them as CUDA's does (float16)
    # a first conv keeps autocast's half copy of its weight (its backward node keeps both)
    "first_conv": ("[3, 5, 5]", ["conv: {out: 4, kernel: 1}"], 324),
    # a frozen conv after a trainable layer: its input and the weight's half copy
    "frozen_conv": ("[3, 5, 5]", ["conv: {out: 4, kernel: 1}", "relu",
                                  "conv: {out: 2, kernel: 3, frozen: true}"], 868),
    # a frozen linear keeps the weight's half copy for its input's gradient
    "frozen_linear": ("[6]", ["linear: {out: 4}", "relu", "linear: {out: 3, frozen: true}"],
                      64),
    "sparse_conv": ("[3, 5, 5]", ["conv: {out: 4, kernel: 1}",
                                  "conv: {out: 2, kernel: 3, connections: [[0, 1], [2]]}"], 718),
    "pointwise": ("[3, 4, 4]", ["conv: {out: 4, kernel: 1}", "relu",
                                "linear: {out: 2, pointwise: true}"], 744),
    # a weight three layers share (`shares:`): autocast keeps one half copy of a weight that
    # needs a gradient; a frozen one is cast again at each use
    "shared": ("[6]", ["linear: {out: 6, name: a}", "relu", "linear: {out: 6, shares: a}",
                       "relu", "linear: {out: 6, shares: a}"], 144),
    "shared_frozen": ("[6]", ["linear: {out: 6}", "relu", "linear: {out: 6, name: a, "
                              "frozen: true}", "relu", "linear: {out: 6, shares: a}"], 216),
}


@pytest.mark.parametrize("name", AMP)
def test_amp_weight_copies(tmp_path: Path, name: str) -> None:
    shape, layers, expected = AMP[name]
    path = small_spec(tmp_path, name, shape, layers)
    analysis = cnncli.analyze(str(path), batch=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        real = saved_activation_bytes(cnncli.build(str(path)), torch.randn(2, *analysis.input))
    predicted = training_memory(analysis, amp=True, device="cpu").saved_activation_bytes
    assert predicted == real == expected


def test_max_batch_past_a_batch_of_one(tmp_path: Path) -> None:
    """A pointwise linear's fold is a view at batch 1 and a copy above, so batch 1 lies off
    the line a + b·N: the largest batch still fits and one more does not (a line through
    batches 1 and 2 said 3 and 16 here)."""
    path = small_spec(tmp_path, "fold", "[3, 8, 8]", ["conv: {out: 8, kernel: 1}", "relu",
                                                     "linear: {out: 4, pointwise: true}"])

    def total(batch: int) -> int:
        return training_memory(cnncli.analyze(str(path), batch=batch),
                               device="cpu").total_bytes

    assert [total(n) for n in (1, 2, 3)] == [2592, 8736, 12832]
    for budget, expected in ((2000, 0), (5000, 1), (20_000, 4), (100_000, 24)):
        n = max_batch(cnncli.analyze(str(path)), budget, device="cpu")
        assert n == expected
        assert (n == 0 or total(n) <= budget) and total(n + 1) > budget
