"""`concat` of named outputs along another axis than the channels (`axis:`), as YOLOv8's
head joins its levels' flattened maps along the anchors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import cnncli
from cnncli.model.verify import verify

LEVELS = """name: levels
input: [3, 16, 16]
layers:
  - conv: {out: 6, kernel: 1, name: p3}
  - conv: {out: 6, kernel: 3, stride: 2, padding: 1, name: p4}
  - flatten: {start: 1, from: p3, name: f3}
  - flatten: {start: 1, from: p4, name: f4}
  - concat: {from: [f3, f4], axis: AXIS, name: cat}
"""


@pytest.mark.parametrize("axis", [-1, 1])
def test_concat_along_the_last_axis(tmp_path: Path, axis: int) -> None:
    path = tmp_path / "levels.yaml"
    path.write_text(LEVELS.replace("AXIS", str(axis)))
    a = cnncli.analyze(str(path))
    cat = next(r for r in a.root.walk() if r.path == "cat")
    assert (cat.node.axis, cat.output, cat.other_ops, a.output) == (1, (6, 320), 0, (6, 320))
    model = cnncli.build(str(path)).eval()
    x = torch.randn(2, 3, 16, 16)
    convs = dict(model.named_children())
    want = torch.cat([convs["p3"](x).flatten(2), convs["p4"](convs["p3"](x)).flatten(2)], 2)
    assert torch.equal(model(x), want)
    assert verify(str(path), batch=2).ok


def bad(tmp_path: Path, cli, join: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(LEVELS.replace("  - concat: {from: [f3, f4], axis: AXIS, name: cat}\n",
                                   join))
    code, out, err = cli("check", str(path))
    assert code == 2 and out == "" and "Traceback" not in err, err
    return err.replace(str(path), "bad.yaml")


@pytest.mark.parametrize("join,message", [
    ("  - concat: {from: [f3, f4], axis: 2}\n",
     "bad.yaml:8:36: layer 4: concat: axis must be an integer from -2 to 1 (0 is the "
     "channels; -1 the last axis) for inputs of 2 axes, got 2"),
    ("  - concat: {from: [f3, f4]}\n",
     "bad.yaml:8:5: layer 4: concat: input 'f3' is 6x256 but input 'f4' is 6x64; inputs of "
     "concat must agree on everything but channels"),
    ("  - concat: {from: [p3, f4], axis: -1}\n",
     "bad.yaml:8:5: layer 4: concat: input 'p3' is 6x16x16 but input 'f4' is 6x64; inputs "
     "of concat must agree on everything but axis 2"),
    ("  - add: {from: [f3, f4], axis: 1}\n",
     "bad.yaml:8:27: layer 4: add of named outputs takes from: and name:, not 'axis'"),
])
def test_axis_mistakes_are_located(tmp_path: Path, cli, join: str, message: str) -> None:
    assert bad(tmp_path, cli, join) == f"error: {message}\n"
