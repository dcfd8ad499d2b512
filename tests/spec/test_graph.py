"""The graph form: entries that read named earlier outputs (`from:`), joins, blocks with
several inputs, `like:` and `outputs:`. Figures by hand, torch as the oracle for shapes,
counts and saved tensors, and every mistake a located sentence."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

import cnncli
from cnncli.analysis.training import training_memory
from cnncli.model.memory import saved_activation_bytes
from cnncli.model.verify import verify

#: a small U: two encoder levels, an up block with a skip input, two heads joined three ways
UNET_ISH = """\
name: small_u
input: [3, 32, 32]
blocks:
  double:
    params: {out: ~}
    layers:
      - conv: {out: out, kernel: 3, padding: 1, bias: false}
      - bn
      - relu
  up:
    params: {out: ~}
    inputs: [x, skip]
    layers:
      - adaptive_avgpool: {like: skip}
      - conv: {out: out, kernel: 1, name: reduce}
      - concat: {from: [skip, reduce], name: cat}
      - double: {out: out, name: conv}
layers:
  - double: {out: 8, name: inc}
  - maxpool: {kernel: 2, name: pool}
  - double: {out: 16, name: down}
  - up: {out: 8, from: [down, inc], name: up}
  - conv: {out: 2, kernel: 1, name: head}
  - conv: {out: 2, kernel: 1, name: head2, from: up}
  - add: {from: [head, head2], name: sum}
  - conv: {out: 2, kernel: 1, name: g, from: head}
  - sigmoid: {name: gate}
  - multiply: {from: [sum, gate], name: scaled}
  - concat: {from: [scaled, input], name: out}
outputs: [out, head]
"""


@pytest.fixture
def spec(tmp_path: Path) -> str:
    path = tmp_path / "small_u.yaml"
    path.write_text(UNET_ISH)
    return str(path)


def test_figures_by_hand(spec: str) -> None:
    a = cnncli.analyze(spec)
    rows = {r.path: r for r in a.root.walk()}
    assert rows["up.0"].output == (16, 32, 32)  # sized like the skip it joins
    assert rows["up.cat"].output == (16, 32, 32)  # skip's 8 + reduce's 8 channels
    assert rows["up.conv.0"].params == 16 * 8 * 9
    assert rows["head2"].input == (8, 32, 32)  # reads up, not head
    assert rows["g"].input == (2, 32, 32)
    assert rows["out"].output == (5, 32, 32)  # 2 + the 3 input channels
    params = (3 * 8 * 9 + 16) + (8 * 16 * 9 + 32) + (16 * 8 + 8) + (16 * 8 * 9 + 16) \
        + 18 + 18 + (2 * 2 + 2)  # head, head2 and g (which reads head's 2 maps)
    assert a.totals()["params"] == params
    # the joins' own work: one add and one multiply per element, a concat copies
    assert (rows["sum"].other_ops, rows["scaled"].other_ops, rows["out"].other_ops) == \
        (2048, 2048, 0)
    assert rows["sum"].rf.size == rows["head"].rf.size  # the widest of its inputs
    assert [n.output for n in a.network.outputs.values()] == [(5, 32, 32), (2, 32, 32)]


def test_torch_agrees_and_returns_every_output(spec: str) -> None:
    result = verify(spec, batch=2, device="cpu")
    assert result.ok, result.first_disagreement()
    model = cnncli.build(spec)
    out, head = model(torch.randn(4, 3, 32, 32))
    assert out.shape == (4, 5, 32, 32) and head.shape == (4, 2, 32, 32)
    assert "add(sum: head, head2)" not in repr(model)
    assert "add(head, head2)" in repr(model) and "[down] -> up" in repr(model)


@pytest.mark.parametrize("batch", [1, 3])
def test_saved_tensors_equal_autograd(spec: str, batch: int) -> None:
    a = cnncli.analyze(spec, batch=batch)
    model = cnncli.build(spec).train()
    measured = saved_activation_bytes(model, torch.randn(batch, 3, 32, 32))
    assert training_memory(a, device="cpu").saved_activation_bytes == measured


def test_summary_shows_what_a_row_reads(spec: str, cli) -> None:
    code, out, _ = cli("summary", spec, "--wide")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith(" ")}
    assert "up.0 ← down, inc " in lines["up.0"]
    assert "up.cat ← inc, up.reduce " in lines["up.cat"]
    assert "head2 ← up " in lines["head2"]
    assert "out ← scaled, input " in lines["out"]
    assert "pool " in lines["pool"] and "←" not in lines["pool"]
    assert " Output              out 5x32x32, head 2x32x32\n" in out
    code, out, _ = cli("summary", spec, "--format", "json")
    doc = json.loads(out)
    assert doc["outputs"] == {"out": [5, 32, 32], "head": [2, 32, 32]}
    reads = {r["path"]: r["reads"] for r in doc["layers"] if "reads" in r}
    assert reads == {"up.0": ["down", "inc"], "up.cat": ["inc", "up.reduce"],
                     "head2": ["up"], "sum": ["head", "head2"], "g": ["head"],
                     "scaled": ["sum", "gate"], "out": ["scaled", "input"]}


def bad(tmp_path: Path, cli, body: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ninput: [3, 8, 8]\nlayers:\n" + body)
    code, out, err = cli("check", str(path))
    assert code == 2 and out == "" and "Traceback" not in err, err
    return err.replace(str(path), "bad.yaml")


@pytest.mark.parametrize("body,message", [
    ("  - conv: {out: 4, kernel: 1, from: later}\n  - relu: {name: later}\n",
     "bad.yaml:4:37: layer 0: from: 'later' is defined later (line 5); an entry reads "
     "outputs made before it (no cycles)"),
    ("  - conv: {out: 4, kernel: 1, name: me, from: me}\n",
     "bad.yaml:4:47: layer me: from: 'me' is this entry itself; an entry reads outputs made "
     "before it (no cycles)"),
    ("  - conv: {out: 4, kernel: 1, name: a}\n  - relu: {from: b}\n",
     "bad.yaml:5:18: layer 1: from: no earlier output is named 'b' here; the names this entry "
     "can read: a, input"),
    ("  - conv: {out: 4, kernel: 1, name: a}\n  - maxpool: {kernel: 2, name: b}\n"
     "  - concat: {from: [a, b]}\n",
     "bad.yaml:6:5: layer 2: concat: input 'a' is 4x8x8 but input 'b' is 4x4x4; inputs of "
     "concat must agree on everything but channels"),
    ("  - conv: {out: 4, kernel: 1, name: a}\n  - add: {from: [a, input]}\n",
     "bad.yaml:5:5: layer 1: add: input 'a' is 4x8x8 but input 'input' is 3x8x8; inputs of "
     "add must have one shape"),
    ("  - conv: {out: 4, kernel: 1, name: a}\n  - add: {from: [a]}\n",
     "bad.yaml:5:17: layer 1: add joins two or more outputs; from: names 1"),
    ("  - conv: {out: 4, kernel: 1, name: a}\n  - relu: {from: [a, input]}\n",
     "bad.yaml:5:18: layer 1: from: relu reads one output, not 2; join several first with "
     "concat, add or multiply"),
    ("  - conv: {out: 4, kernel: 1, name: a}\n  - relu: {from: a.x}\n",
     "bad.yaml:5:18: layer 1: from: a has no part 'x' (its parts: none)"),
    ("  - flatten: {name: flat}\n  - adaptive_avgpool: {like: flat}\n",
     "bad.yaml:5:30: layer 1: like: 'flat' is 192, not a feature map (CxHxW)"),
    ("  - conv: {out: 4, kernel: 1, name: a}\n  - lrn: {like: a}\n",
     "bad.yaml:5:11: layer 1: lrn has no option 'like'; its options: size, alpha, beta, k"),
])
def test_mistakes_are_located(tmp_path: Path, cli, body: str, message: str) -> None:
    assert bad(tmp_path, cli, body) == f"error: {message}\n"


def test_block_inputs_must_match_the_call(tmp_path: Path, cli) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ninput: [3, 8, 8]\nblocks:\n  two:\n    inputs: [x, skip]\n"
                    "    layers:\n      - add: {from: [x, skip]}\nlayers:\n"
                    "  - conv: {out: 3, kernel: 1, name: a}\n  - two: {from: [a]}\n")
    code, _, err = cli("check", str(path))
    assert code == 2
    assert err == (f"error: {path}:10:17: layer 1: block 'two' takes 2 input(s) (x, skip); "
                   "from: gives 1\n")


def test_a_block_body_sees_its_inputs_not_the_callers_names(tmp_path: Path, cli) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ninput: [3, 8, 8]\nblocks:\n  peek:\n    layers:\n"
                    "      - relu: {from: a}\nlayers:\n"
                    "  - conv: {out: 3, kernel: 1, name: a}\n  - peek\n")
    code, _, err = cli("check", str(path))
    assert code == 2
    assert err == (f"error: {path}:6:22: layer 1.0: from: no earlier output is named 'a' "
                   "here; the names this entry can read: input\n")


def test_a_star_reads_every_item_of_a_repeat(tmp_path: Path) -> None:
    path = tmp_path / "star.yaml"
    path.write_text("name: star\ninput: [4, 8, 8]\nlayers:\n"
                    "  - conv: {out: 4, kernel: 1, name: a}\n"
                    "  - repeat: {name: m, count: 3,\n"
                    "              body: [conv: {out: 4, kernel: 3, padding: 1}]}\n"
                    "  - concat: {from: [a, m.*], name: cat}\n")
    a = cnncli.analyze(str(path))
    cat = next(r for r in a.root.walk() if r.path == "cat")
    assert cat.node.sources == ("a", "m.0", "m.1", "m.2") and cat.output == (16, 8, 8)
    assert verify(str(path), batch=2).ok


#: a join inside a residual's body or a concat's `after`, reading a tensor that needs a
#: gradient where the composite's input does not (found by tests/specgen.py's corpus)
JOIN_INSIDE = {
    # the walk took the body's add join for the residual's own add, so the subsample
    # after it looked like a first layer and kept only its means
    "residual": ("  - residual:\n      from: input\n      shortcut: auto\n      layers:\n"
                 "        - add: {from: [a, input]}\n        - subsample: {kernel: 2}\n",
                 (216, 408)),
    # ... and an after's concat join for the concat's own, which kept nothing
    "concat": ("  - concat:\n      from: input\n      branches: [[]]\n      after:\n"
               "        - concat: {from: [a, input]}\n        - subsample: {kernel: 2}\n",
               (336, 656)),
}


@pytest.mark.parametrize("name", JOIN_INSIDE)
def test_join_inside_a_composite_saves_what_autograd_does(tmp_path: Path, name: str) -> None:
    body, expected = JOIN_INSIDE[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text("name: j\ninput: [2, 4, 4]\nlayers:\n  - conv: {out: 2, kernel: 1, "
                    "name: a}\n" + body)
    for batch, bytes_ in zip((1, 2), expected):
        a = cnncli.analyze(str(path), batch=batch)
        measured = saved_activation_bytes(cnncli.build(str(path)), torch.randn(batch, 2, 4, 4))
        assert training_memory(a, device="cpu").saved_activation_bytes == measured == bytes_


@pytest.mark.parametrize("left_out", ["relu: {name: a, when: false}",
                                      "repeat: {name: a, count: 0, inline: true, body: [relu]}"])
def test_a_left_out_name_is_not_defined_later(tmp_path: Path, cli, left_out: str) -> None:
    """An earlier entry that `when` drops, or an inline repeat of no items, made nothing:
    reading it is an error that says so (it said "defined later (line 4)")."""
    message = bad(tmp_path, cli, f"  - {left_out}\n  - relu: {{from: a}}\n")
    assert message == ("error: bad.yaml:5:18: layer 0: from: 'a' is left out (when: false, or "
                       "an inline composite with no layers), so there is no output to read\n")


def test_a_repeated_block_reads_the_item_before_it_as_input(tmp_path: Path) -> None:
    """Each item of a repeat reads the one before it: a block body's `input` in item 1 is
    item 0's output (it was the repeat's input, for every item: a wrong sum, right shapes)."""
    path = tmp_path / "rep.yaml"
    path.write_text("name: rep\ninput: [2, 4, 4]\nblocks:\n  twice:\n    layers:\n"
                    "      - conv: {out: 2, kernel: 1, name: c}\n"
                    "      - add: {from: [c, input]}\nlayers:\n"
                    "  - conv: {out: 2, kernel: 1, name: stem}\n"
                    "  - repeat: {count: 2, body: {twice: {}}}\n")
    model = cnncli.build(str(path))
    x = torch.randn(3, 2, 4, 4)
    items = model._modules["1"]
    y = model.stem(x)
    for item in ("0", "1"):
        y = items._modules[item].c(y) + y
    assert torch.equal(model(x), y)
    a = cnncli.analyze(str(path))
    assert [r.node.sources for r in a.root.walk() if r.kind == "add"] == \
        [("1.0.c", "stem"), ("1.1.c", "1.0")]


PEEK = ("name: s\ninput: [2, 4, 4]\nblocks:\n  peek:\n    layers:\n"
        "      - add: {from: [input, input]}\nlayers:\n  - conv: {out: 2, kernel: 1, name: a}\n")


@pytest.mark.parametrize("call", ["concat: {branches: [[relu]], after: [peek]}",
                                  "residual: {layers: [relu], after: [peek]}",
                                  "concat: {split: true, branches: [[peek], [peek]]}"])
def test_a_block_input_no_entry_gives_is_an_error(tmp_path: Path, cli, call: str) -> None:
    """A block called first in an after: list or in a split branch runs on a sum, a
    concatenation or a share that no entry gives: its `input` read `a` (right shapes,
    wrong values); now the read is a located error."""
    path = tmp_path / "s.yaml"
    path.write_text(PEEK + f"  - {call}\n")
    code, out, err = cli("check", str(path))
    assert code == 2 and out == ""
    assert f"{path}:6:22: layer 1." in err
    assert "from: 'input': this block is called on a tensor no entry gives" in err


def test_a_block_after_a_residual_without_shortcut_reads_the_body(tmp_path: Path) -> None:
    """Without a shortcut the after: list starts from the body's last output (it read the
    residual's input)."""
    path = tmp_path / "s.yaml"
    path.write_text(PEEK + "  - residual: {layers: [relu], shortcut: none, after: [peek]}\n")
    model = cnncli.build(str(path))
    x = torch.randn(2, 2, 4, 4)
    assert torch.equal(model(x), 2 * torch.relu(model.a(x)))


def test_a_residual_whose_body_is_a_join_is_drawn(tmp_path: Path) -> None:
    """The diagram took the first op in a residual's rows for its add: a body of one add
    join left the body empty and the layout failed (max() of nothing)."""
    from cnncli.analysis.diagram import svg

    path = tmp_path / "r.yaml"
    path.write_text("name: r\ninput: [2, 4, 4]\nlayers:\n  - relu: {name: a}\n"
                    "  - residual: {layers: [add: {from: [a, a]}]}\n")
    ns = "{http://www.w3.org/2000/svg}"
    y = {g.get("data-path"): float(g.find(f"{ns}rect").get("y"))
         for g in ET.fromstring(svg(cnncli.analyze(str(path)), None)).iter(f"{ns}g")
         if g.get("class", "").startswith("box")}
    assert y["a"] < y["1.0"] < y["1.(add)"]  # the join in the body, the residual's add below


def test_explain_starts_a_reading_row_from_what_it_reads(tmp_path: Path) -> None:
    """explain's receptive-field formula for a row with from: starts from the output it
    reads (it started from the row above: `3 + (3 − 1) · 2 = 3`)."""
    from cnncli.analysis.explain import Context

    path = tmp_path / "rf.yaml"
    path.write_text("name: rf\ninput: [2, 16, 16]\nlayers:\n"
                    "  - conv: {out: 2, kernel: 3, stride: 2, name: a}\n"
                    "  - conv: {out: 2, kernel: 3, name: b, from: input}\n  - relu\n")
    a = cnncli.analyze(str(path))
    ctx = Context(a)
    rows = {r.path: r for r in a.root.walk()}
    rf = {row: {f.name: (f.formula, f.value) for f in ctx.figures(rows[row])}
          for row in ("b", "2")}
    assert rf["b"]["receptive field"] == ("1 + (3 − 1) · 1", 3)
    assert rf["b"]["RF stride"] == ("1 · 1", 1)
    assert rf["2"]["receptive field"] == ("3 + (1 − 1) · 1", 3)  # relu reads b


def test_explain_gives_a_join_its_own_figures(spec: str) -> None:
    """A join is explained as what it does to the outputs it reads (it was explained as a
    residual's add, `body + shortcut`; a concat as a composite's join with no branches,
    `output channels =  = 16`; a multiply had no figure for its work)."""
    from cnncli.analysis.explain import Context

    a = cnncli.analyze(spec)
    ctx = Context(a)
    rows = {r.path: r for r in a.root.walk()}
    first = {p: ctx.figures(rows[p])[0] for p in ("sum", "scaled", "out", "up.cat")}
    assert [(f.name, f.formula, f.value) for f in first.values()] == [
        ("other ops", "2 · 32 · 32", 2048), ("other ops", "2 · 32 · 32", 2048),
        ("output channels", "2 + 3", 5), ("output channels", "8 + 8", 16)]
    assert first["sum"].note == "one add per output element for each input after the first"


def test_explain_counts_each_input_after_the_first(tmp_path: Path) -> None:
    from cnncli.analysis.explain import Context

    path = tmp_path / "three.yaml"
    path.write_text("name: three\ninput: [2, 4, 4]\nlayers:\n  - relu: {name: a}\n"
                    "  - add: {from: [a, a, input], name: s}\n")
    a = cnncli.analyze(str(path))
    row = next(r for r in a.root.walk() if r.path == "s")
    figure = Context(a).figures(row)[0]
    assert (figure.formula, figure.value) == ("2 · 2 · 4 · 4", 64) and row.other_ops == 64


def test_flops_marks_what_a_row_reads(spec: str, cli) -> None:
    code, out, _ = cli("flops", spec, "--wide", "--depth", "1")
    assert code == 0
    assert " up ← down, inc " in out and " sum ← head, head2 " in out
    code, out, _ = cli("flops", spec, "--format", "json", "--depth", "1")
    rows = {r["path"]: r.get("reads") for r in json.loads(out)["by_layer"]}
    assert rows["up"] == ["down", "inc"] and rows["pool"] is None


BACKBONE = """\
name: bout
input: [3, 32, 32]
blocks:
  backbone:
    outputs: [c2, c3]
    layers:
      - conv: {out: 8, kernel: 3, stride: 2, padding: 1, name: c1}
      - conv: {out: 16, kernel: 3, stride: 2, padding: 1, name: c2}
      - conv: {out: 32, kernel: 3, stride: 2, padding: 1, name: c3}
layers:
  - backbone: {name: body}
  - conv: {out: 8, kernel: 1, from: body.READ, name: lat}
"""


def test_a_blocks_declared_outputs_are_what_callers_read(tmp_path: Path, cli) -> None:
    path = tmp_path / "bout.yaml"
    path.write_text(BACKBONE.replace("READ", "c2"))
    lat = next(r for r in cnncli.analyze(str(path)).root.walk() if r.path == "lat")
    assert lat.input == (16, 8, 8) and lat.node.sources == ("body.c2",)
    path.write_text(BACKBONE.replace("READ", "c1"))
    code, _, err = cli("check", str(path))
    assert code == 2 and err == (f"error: {path}:12:37: layer lat: from: body gives the outputs "
                                 "c2, c3 (its block's outputs:), not 'c1'\n")
    path.write_text(BACKBONE.replace("[c2, c3]", "[c2, c9]").replace("READ", "c2"))
    code, _, err = cli("check", str(path))
    assert code == 2 and err == (f"error: {path}:4:3: layer body: block 'backbone' declares the "
                                 "output 'c9', but its body has no part of that name here (its "
                                 "parts: c1, c2, c3)\n")
