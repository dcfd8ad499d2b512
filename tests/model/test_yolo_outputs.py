"""The built yolov8 gives Ultralytics' outputs: decoded boxes (x, y, w, h in input pixels)
and class scores for the same formula weights and inputs (tests/fixtures/yolo_outputs.json,
written by make_yolo_outputs.py with ultralytics 8.4.190 beside torch 2.14.1)."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TESTS
from synthetic_weights import synthetic_input, synthetic_state_dict

import cnncli

CASES = json.loads((TESTS / "fixtures" / "yolo_outputs.json").read_text())["cases"]


def case_id(case: dict) -> str:
    return f"{case['name']}-{'x'.join(map(str, case['input']))}"


@pytest.mark.slow  # seconds each: formula weights for millions of parameters
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_outputs_equal_ultralytics(case: dict) -> None:
    shape = tuple(case["input"])
    model = cnncli.build(case["name"], input=shape).eval()
    shapes = {k: list(v.shape) for k, v in model.state_dict().items() if "dfl" not in k}
    model.load_state_dict(synthetic_state_dict(shapes), strict=False)  # the DFL keeps 0 … 15
    with torch.no_grad():
        y = model(synthetic_input(list(shape)))
    assert list(y.shape[1:]) == case["output"]
    close = {"rtol": 1e-4, "atol": 1e-4}
    torch.testing.assert_close(y[0, :, :3], torch.tensor(case["first"]), **close)
    torch.testing.assert_close(y[1, :, -3:], torch.tensor(case["last"]), **close)
    torch.testing.assert_close(y.double().sum(-1), torch.tensor(case["row_sums"],
                                                                dtype=torch.float64),
                               rtol=1e-5, atol=1e-3)
