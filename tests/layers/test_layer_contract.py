"""One contract for every registered layer type, with torch as the oracle.

For random arguments and input shapes: when the analyzer accepts, the torch module built
from the same layer has the same output shape, parameter and buffer counts, and
FlopCounterMode counts exactly 2 x the analyzer's MACs; when the analyzer rejects, torch
raises too (except the rejections that are cnncli policy, listed below).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from cnncli.layers import LAYER_TYPES, Arg, ArgError, Layer, ShapeError

#: hypothesis cases per layer type: 100 keeps the fast run under a minute with 34 types;
#: CNNCLI_CONTRACT_EXAMPLES=1000 for a deeper search
EXAMPLES = int(os.environ.get("CNNCLI_CONTRACT_EXAMPLES", "100"))

BATCH = 2


def arg_values(arg: Arg) -> st.SearchStrategy[Any]:
    """Values around an argument's valid range, including some just outside it."""
    low = int(arg.min) if arg.min is not None else 0
    if arg.kind == "bool":
        return st.booleans()
    if arg.kind == "float":
        high = arg.max if arg.max is not None else 3.0
        return st.floats(min_value=max(low, 0.0), max_value=high, allow_nan=False)
    ints = st.integers(min_value=low - 1, max_value=low + 5)
    if arg.kind == "int":
        return ints
    if arg.kind == "choice":
        return st.sampled_from([*arg.choices, "no_such_mode"])
    if arg.kind == "scale":
        number = st.one_of(ints, st.sampled_from([0.5, 1.5, 0.3, 2.25]))
        scale = st.one_of(number, st.lists(number, min_size=2, max_size=2))
        return st.one_of(st.none(), scale)
    if arg.kind == "sides":
        sides = st.sampled_from([1, 2, 4]).flatmap(lambda n: st.lists(ints, min_size=n,
                                                                      max_size=n))
        return st.one_of(ints, sides)
    pair = st.one_of(ints, st.lists(ints, min_size=2, max_size=2))
    if arg.kind == "padding":
        return st.one_of(pair, st.sampled_from(["same", "valid"]))
    if arg.kind == "table":
        return st.lists(st.lists(ints, max_size=4), max_size=5)
    if arg.kind == "ints":
        return st.one_of(ints, st.lists(ints, max_size=4))
    if arg.kind == "sizes":
        return st.lists(st.lists(ints, min_size=1, max_size=3), max_size=4)
    if arg.default is None:
        return st.one_of(st.none(), pair)
    return pair


@st.composite
def layer_case(draw: st.DrawFn, cls: type[Layer]) -> tuple[dict[str, Any], tuple[int, ...]]:
    values = {}
    for arg in cls.args:
        if not arg.required and draw(st.booleans()):
            continue  # leave it to the default
        values[arg.name] = draw(arg_values(arg))
    flat = draw(st.integers(0, 4)) == 0
    if cls.__module__.endswith(".tokens") and draw(st.integers(0, 3)):  # tokens D x L
        shape: tuple[int, ...] = (draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    elif flat:
        shape = (draw(st.integers(1, 12)),)
    else:
        shape = (draw(st.integers(1, 8)), draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    for arg in cls.args:  # a table that fits `out` and the input, not just random lists
        out = values.get("out")
        if arg.kind == "table" and isinstance(out, int) and out >= 1 and not flat \
                and draw(st.booleans()):
            row = st.sets(st.integers(0, shape[0] - 1), min_size=1).map(sorted)
            values[arg.name] = draw(st.lists(row, min_size=out, max_size=out))
    return values, shape


def is_policy(cls: type[Layer], raw: dict[str, Any], shape: tuple[int, ...]) -> bool:
    """Rejections that are cnncli's choice, not torch's: linear or rbf on an unflattened map
    (torch would silently act on the last axis), pad or crop on a vector, outputs sized 0
    (torch builds empty tensors), dropout that drops everything, a conv given both groups
    and connections, a mode word cnncli does not know, negative pads, a pad value outside
    the zeros mode, a flatten start below 0 (torch's would count the batch axis), a token
    layer on anything but tokens D x L, a token index from the end."""
    if cls.name in ("linear", "rbf") and len(shape) != 1:
        return True
    if cls.name in ("pad", "crop") and len(shape) != 3:
        return True  # torch would pad or crop a batch of vectors as a 2-D map
    if cls.__module__.endswith(".tokens") and (len(shape) != 2 or raw.get("index", 0) < 0):
        return True  # tokens only, and no index from the end
    if raw.get("connections") is not None and raw.get("groups", 1) != 1:
        return True
    if cls.name == "dropout" and raw.get("p") == 1.0:
        return True
    if cls.name == "flatten" and raw.get("start", 0) < 0:
        return True
    for arg in cls.args:  # cnncli's words ("constant" for zeros) and its pads of >= 0
        value = raw.get(arg.name)
        if arg.kind == "choice" and value is not None and value not in arg.choices:
            return True
        if arg.kind == "sides" and min(value if isinstance(value, list) else [value or 0],
                                       default=0) < 0:
            return True  # torch crops with a negative pad
    if cls.name == "pad" and raw.get("value", 0) != 0 and raw.get("mode") != "zeros":
        return True  # torch's reflect, replicate and circular pads take no value
    if cls.name == "conv_transpose" and len(shape) == 3 and 0 in transposed_sizes(raw, shape):
        return True  # torch builds an empty map
    sizes = [raw.get(name) for name in ("out", "size")]
    return any(v == 0 or (isinstance(v, list) and 0 in v) for v in sizes)


def transposed_sizes(raw: dict[str, Any], shape: tuple[int, ...]) -> list[int]:
    """A transposed conv's output H and W from raw values (torch's formula)."""
    def axis(name: str, default: int, i: int) -> int:
        value = raw.get(name, default)
        return value[i] if isinstance(value, list) else value

    return [(shape[i + 1] - 1) * axis("stride", 1, i) - 2 * axis("padding", 0, i)
            + axis("dilation", 1, i) * (axis("kernel", 1, i) - 1)
            + axis("output_padding", 0, i) + 1 for i in (0, 1)]


def torch_run(cls: type[Layer], raw: dict[str, Any], shape: tuple[int, ...]) -> Any:
    """Build the torch module straight from the raw values where torch takes them."""
    layer = cls.__new__(cls)
    for arg in cls.args:
        value = raw.get(arg.name, arg.default)
        if arg.kind == "choice":
            value = arg.choices.get(value, value)
        elif arg.kind == "sides" and value is not None:
            value = tuple(value) if isinstance(value, list) else (value,) * 4
            if len(value) == 2:
                value = (value[1], value[1], value[0], value[0])
        elif isinstance(value, list):
            value = tuple(value)
        elif arg.kind in ("pair", "padding", "scale") and isinstance(value, (int, float)):
            value = (value, value)
        setattr(layer, arg.name, value)
    module = layer.build(shape).eval()
    return module, module(torch.zeros(BATCH, *shape))


@pytest.mark.parametrize("cls", [c for c in LAYER_TYPES if c.priced], ids=lambda c: c.name)
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_layer_matches_torch(cls: type[Layer], data: st.DataObject) -> None:
    raw, shape = data.draw(layer_case(cls))
    try:
        layer = cls.create(**raw)
        cost = layer.infer(shape)
    except (ArgError, ShapeError):
        layer = None
    if layer is None:
        if is_policy(cls, raw, shape):
            return
        with warnings.catch_warnings(), pytest.raises(
                (RuntimeError, ValueError, TypeError, IndexError, ZeroDivisionError)):
            warnings.simplefilter("ignore")
            torch_run(cls, raw, shape)
        return
    module = layer.build(shape).eval()
    x = torch.zeros(BATCH, *shape)
    with FlopCounterMode(display=False) as counter:
        y = module(x)
    assert tuple(y.shape[1:]) == cost.output
    assert sum(p.numel() for p in module.parameters()) == cost.params
    assert sum(b.numel() for b in module.buffers()) == cost.buffers
    assert sum(b.numel() * b.element_size() for b in module.buffers()) == cost.buffer_bytes
    assert counter.get_total_flops() == 2 * cost.macs * BATCH
