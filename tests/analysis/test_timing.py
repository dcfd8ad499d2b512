"""The time predictor's arithmetic on hand-made profiles, the layer kinds, and the profile
file: round trip, validation with located errors, shipped profiles, lookup."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import cnncli
from cnncli.analysis.profile import (
    BORROWED,
    KINDS,
    SHIPPED,
    Profile,
    ProfileError,
    Rate,
    parse,
    resolve,
    shipped_names,
)
from cnncli.analysis.timing import predict
from cnncli.errors import UsageError
from cnncli.layers import REGISTRY

SPEC = """
name: two
input: [4, 8, 8]
layers:
  - conv: {out: 8, kernel: 3, padding: 1}
  - relu: {}
"""


def hand_profile(combine: str = "sum", backward: float = 2.0) -> Profile:
    """Round numbers: every kind 10 µs, 100 Gop/s, 10 GB/s of activations, 20 GB/s of
    weights."""
    return Profile("hand", "cpu", True, "test", combine, backward,
                   {kind: Rate(10.0, 100.0, 10.0, 20.0) for kind in KINDS}, threads=2)


@pytest.fixture
def two(write_spec) -> cnncli.Analysis:  # type: ignore[name-defined]
    return cnncli.analyze(write_spec(SPEC), batch=2)


def test_a_layer_s_time_is_overhead_plus_compute_plus_memory(two) -> None:
    timing = predict(two, hand_profile())
    conv = timing.leaves["0"]
    # 2 x MACs = 2 · 2 · (8·8·8 · 4·3·3); bytes: (4·8·8 in + 8·8·8 out) · 4 · batch 2;
    # weights (8·4·3·3 + 8 bias) · 4
    assert (conv.work.kind, conv.work.ops) == ("conv3x3", 2 * 2 * 8 * 8 * 8 * 36)
    assert (conv.work.act_bytes, conv.work.weight_bytes) == ((256 + 512) * 4 * 2, 296 * 4)
    assert conv.overhead_ms == pytest.approx(0.010)
    assert conv.compute_ms == pytest.approx(73728 / 100e9 * 1e3)
    assert conv.memory_ms == pytest.approx(6144 / 10e9 * 1e3 + 1184 / 20e9 * 1e3)
    assert conv.ms == pytest.approx(0.010 + 0.00073728 + 0.0006144 + 0.0000592)
    assert conv.bound == "overhead"
    relu = timing.leaves["1"]  # one op per element; reads and writes 8·8·8 floats a sample
    assert (relu.work.kind, relu.work.ops, relu.work.act_bytes) == ("elementwise", 1024, 8192)
    assert timing.total_ms == pytest.approx(conv.ms + relu.ms)


def test_a_published_profile_takes_the_larger_of_compute_and_memory(two) -> None:
    conv = predict(two, hand_profile("max")).leaves["0"]
    assert conv.ms == pytest.approx(0.010 + max(0.00073728, 0.0006144 + 0.0000592))


def test_a_training_step_adds_the_backward_and_the_sgd_update(two) -> None:
    forward = predict(two, hand_profile(backward=2.0))
    step = predict(two, hand_profile(backward=2.0), train=True)
    update = 3 * 296 * 4 / 10e9 * 1e3  # read weight and gradient, write weight: elementwise
    assert step.optimizer_ms == pytest.approx(update)
    assert step.ms["0"] == pytest.approx(3 * forward.ms["0"] + update)
    assert step.total_ms == pytest.approx(3 * forward.total_ms + update)


def test_a_null_rate_never_limits(two) -> None:
    free = hand_profile()
    kinds = {**free.kinds, "conv3x3": Rate(0.0, None, None, None)}
    timing = predict(two, Profile("free", "cpu", True, "", "sum", 0.0, kinds))
    assert timing.leaves["0"].ms == 0.0


def test_a_block_s_time_is_the_sum_of_its_layers() -> None:
    a = cnncli.analyze("resnet18")
    timing = predict(a, hand_profile())
    layer1 = next(r for r in a.root.children if r.path == "layer1")
    leaves = [r.path for r in layer1.walk() if r.is_leaf]
    assert timing.ms["layer1"] == pytest.approx(sum(timing.leaves[p].ms for p in leaves))
    assert timing.total_ms == pytest.approx(sum(t.ms for t in timing.leaves.values()))
    assert "layer1.0.(add)" in timing.leaves  # the residual add is work too


@pytest.mark.parametrize(("name", "options", "shape", "kind"), [
    ("conv", {"out": 8, "kernel": 1}, (4, 8, 8), "conv1x1"),
    ("conv", {"out": 8, "kernel": 3}, (4, 8, 8), "conv3x3"),
    ("conv", {"out": 8, "kernel": [1, 7]}, (4, 8, 8), "conv_kxk"),
    ("conv", {"out": 8, "kernel": 3, "groups": 2}, (4, 8, 8), "conv_grouped"),
    ("conv", {"out": 8, "kernel": 3, "groups": 4}, (4, 8, 8), "conv_depthwise"),
    ("conv_transpose", {"out": 8, "kernel": 2, "stride": 2}, (4, 8, 8), "conv_transpose"),
    ("linear", {"out": 8}, (16,), "linear"),
    ("maxpool", {"kernel": 2}, (4, 8, 8), "maxpool"),
    ("avgpool", {"kernel": 2}, (4, 8, 8), "avgpool"),
    ("conv", {"out": 64, "kernel": 5, "groups": 2}, (32, 8, 8), "conv_kxk"),
    ("linear", {"out": 8, "pointwise": True}, (4, 8, 8), "conv1x1"),
    ("gelu", {}, (4, 8, 8), "transcendental"),
    ("lrn", {}, (4, 8, 8), "transcendental"),
    ("global_avgpool", {}, (4, 8, 8), "global_pool"),
    ("batchnorm", {}, (4, 8, 8), "norm"),
    ("hardswish", {}, (4, 8, 8), "elementwise"),
    ("dropout", {}, (16,), "view"),
    ("conv", {"out": 3, "kernel": 3, "connections": [[0], [0, 1], [1, 2]]}, (4, 8, 8),
     "conv_table"),
    ("rbf", {"out": 10}, (84,), "rbf"),
    ("subsample", {"kernel": 2}, (4, 8, 8), "avgpool"),
    ("scaled_tanh", {}, (4, 8, 8), "transcendental"),
])
def test_each_layer_has_its_kind(name: str, options: dict, shape: tuple, kind: str) -> None:
    assert REGISTRY[name].create(**options).calls(shape).kind == kind


def test_every_layer_type_names_a_kind_the_profiles_have() -> None:
    from cnncli.layers import LAYER_TYPES

    assert {cls.time_kind for cls in LAYER_TYPES} <= set(KINDS)


@pytest.mark.parametrize(("table", "calls"), [
    ([[0, 1], [1, 2], [2, 3]], 1),                   # one row length: one grouped conv
    ([[0], [0, 1], [1, 2], [0, 1, 2, 3]], 3),        # lengths 1, 2 and 4
])
def test_a_connection_table_makes_one_call_per_row_length(table: list, calls: int) -> None:
    """SparseConv2d runs one grouped conv per row length: the count matches its module."""
    layer = REGISTRY["conv"].create(out=len(table), kernel=3, connections=table)
    assert layer.calls((4, 8, 8)).count == calls
    assert len(layer.build((4, 8, 8)).parts) == calls


def test_each_call_pays_the_overhead(write_spec) -> None:
    spec = """
name: table
input: [4, 8, 8]
layers:
  - conv: {out: 4, kernel: 3, connections: [[0], [0, 1], [1, 2], [0, 1, 2, 3]]}
"""
    a = cnncli.analyze(write_spec(spec))
    timing = predict(a, hand_profile())
    conv = timing.leaves["0"]
    assert (conv.work.kind, conv.work.calls) == ("conv_table", 3)
    assert conv.overhead_ms == pytest.approx(3 * 0.010)
    assert "  overhead = 3 calls · 10 µs = 0.0300 ms" in timing.explain(a.root.children[0], 1)


def test_weight_bytes_count_the_buffers_the_forward_reads(write_spec) -> None:
    """The RBF's prototypes are a buffer, read on every call."""
    spec = """
name: rbf
input: [84]
layers:
  - rbf: {out: 10}
"""
    rbf = predict(cnncli.analyze(write_spec(spec)), hand_profile()).leaves["0"]
    assert (rbf.work.kind, rbf.work.weight_bytes) == ("rbf", 84 * 10 * 4)


# -- the profile file -----------------------------------------------------------------------

def test_a_profile_survives_its_json() -> None:
    profile = hand_profile()
    again = parse(json.dumps(profile.as_dict()), "p.json")
    assert again.as_dict() == profile.as_dict()
    assert again.path == "p.json" and again.label() == "hand, 2 threads (calibrated)"


def good() -> dict:
    return hand_profile().as_dict()


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(schema="x"), "p.json: not a device profile"),
    (lambda d: d.update(combine="min"), "p.json: combine: \"min\" is not one of sum, max"),
    (lambda d: d["kinds"].pop("norm"), "p.json: kinds: misses 'norm'"),
    (lambda d: d["kinds"].update(fft=d["kinds"]["norm"]), "unknown kind 'fft'"),
    (lambda d: d["kinds"]["conv3x3"].update(gops=-1),
     "p.json: kinds.conv3x3.gops: must be a number > 1e-12 or null, got -1"),
    (lambda d: d["kinds"]["maxpool"].update(gops="fast"), "kinds.maxpool.gops: must be a number"),
    (lambda d: d["kinds"]["maxpool"].pop("overhead_us"), "kinds.maxpool: needs overhead_us"),
    (lambda d: d.update(calibrated="yes"), "calibrated: must be true or false, got \"yes\""),
    (lambda d: d.update(threads=0), "p.json: threads: must be a whole number"),
])
def test_a_bad_profile_is_a_located_error(change, message: str) -> None:
    data = good()
    change(data)
    with pytest.raises(ProfileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(json.dumps(data), "p.json")


def test_a_file_that_is_not_json_says_where() -> None:
    with pytest.raises(ProfileError, match=r"^p.json:3:1: not JSON"):
        parse('{\n "a": 1,\n}', "p.json")


def test_the_shipped_profiles_are_gpus_marked_uncalibrated() -> None:
    from cnncli.commands.options import SHIPPED_PROFILES

    assert shipped_names() == sorted(SHIPPED_PROFILES)  # the help lists every one
    for name in shipped_names():
        profile = resolve(name)
        assert (profile.device, profile.calibrated, profile.combine) == ("cuda", False, "max")
        assert profile.source.startswith("uncalibrated: published peak figures")
        assert profile.path == f"shipped:{name}"
        assert profile.borrowed == ()  # every kind of its own
    assert (SHIPPED / "h100-sxm.json").is_file()
    # H100: convs at half the dense TF32 peak of 494.7 TFLOP/s; memory 80 % of 3.35 TB/s
    h100 = resolve("h100-sxm").kinds
    assert (h100["conv3x3"].gops, h100["elementwise"].act_gbs) == (247350.0, 2680.0)


def test_no_calibrated_profile_says_how_to_calibrate(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CNNCLI_PROFILES", str(tmp_path))
    with pytest.raises(UsageError, match="no calibrated profile for this machine in .*: run "
                                         "`cnncli calibrate`"):
        resolve(None)


def test_this_machine_s_newest_calibrated_profile_is_the_default(tmp_path: Path,
                                                                monkeypatch) -> None:
    from cnncli.analysis.profile import cpu_model

    monkeypatch.setenv("CNNCLI_PROFILES", str(tmp_path))
    mine = {**good(), "host_cpu": cpu_model(), "name": "mine"}
    (tmp_path / "other.json").write_text(json.dumps({**good(), "host_cpu": "elsewhere"}))
    (tmp_path / "mine.json").write_text(json.dumps(mine))
    (tmp_path / "broken.json").write_text("{")  # left for --time FILE to report
    assert resolve("auto").name == "mine"


def test_an_unknown_profile_name_suggests_one() -> None:
    with pytest.raises(UsageError, match="--time h100: no such profile .*did you mean "
                                         "'h100-sxm'"):
        resolve("h100")


def test_a_profile_older_than_a_kind_borrows_the_kind_it_was_predicted_as() -> None:
    """A profile written before conv_table, conv_transpose and rbf existed still reads: they
    take the rates of conv_kxk, conv1x1 and linear (what they were predicted as), and the
    summary says so."""
    data = good()
    data["kinds"]["conv_kxk"] = {**data["kinds"]["conv_kxk"], "overhead_us": 77.0}
    for kind in BORROWED:
        del data["kinds"][kind]
    old = parse(json.dumps(data), "old.json")
    assert old.borrowed == ("conv_table", "conv_transpose", "rbf")
    assert old.kinds["conv_table"] == old.kinds["conv_kxk"]
    assert old.kinds["conv_table"].overhead_us == 77.0
    assert old.kinds["conv_transpose"] == old.kinds["conv1x1"]
    assert old.kinds["rbf"] == old.kinds["linear"]
    assert old.note() == ("made before the kinds conv_table, conv_transpose, rbf: predicted "
                          "conv_table as conv_kxk, conv_transpose as conv1x1, rbf as linear; "
                          "run `cnncli calibrate` (about 15 s on 2 cores) for their own rates")
    assert "conv_table" not in old.as_dict()["kinds"]  # written back as it was read
    lines = predict(cnncli.analyze("lenet5_paper"), old).lines(cnncli.analyze("lenet5_paper"))
    assert ("", old.note()) in lines


def test_a_profile_older_than_one_kind_names_it() -> None:
    """The calibrations made before transposed convs had a kind of their own."""
    data = good()
    del data["kinds"]["conv_transpose"]
    old = parse(json.dumps(data), "old.json")
    assert old.note() == ("made before the kind conv_transpose: predicted conv_transpose as "
                          "conv1x1; run `cnncli calibrate` (about 15 s on 2 cores) for its own "
                          "rates")


def test_a_profile_with_every_kind_borrows_nothing() -> None:
    data = good()
    data["kinds"]["conv_table"] = {**data["kinds"]["conv_table"], "overhead_us": 99.0}
    profile = parse(json.dumps(data), "p.json")
    assert profile.borrowed == ()
    assert profile.kinds["conv_table"].overhead_us == 99.0  # its own, not conv_kxk's
    assert profile.kinds["conv_kxk"].overhead_us == 10.0


def test_an_output_over_the_allocator_s_threshold_pays_for_fresh_memory(write_spec) -> None:
    """Above `fresh_above_bytes` an output's bytes are fresh memory, at the kind's fresh
    rate; below it, or on a profile without a threshold (CUDA), they are not."""
    spec = """
name: big
input: [64, 112, 112]
layers:
  - relu: {}
"""
    a = cnncli.analyze(write_spec(spec), batch=16)
    out = 64 * 112 * 112 * 16 * 4  # 49 MiB
    kinds = {k: Rate(10.0, 100.0, 10.0, 20.0, 2.0) for k in KINDS}
    timed = {above: predict(a, Profile("p", "cpu", True, "", "sum", 0.0, kinds,
                                       fresh_above_bytes=above)).leaves["0"]
             for above in (None, 32 * 2**20, 64 * 2**20)}
    assert timed[None].work.buffers == (out,)
    assert timed[32 * 2**20].memory_ms == pytest.approx(
        timed[None].memory_ms + out / 2e9 * 1e3)
    assert timed[64 * 2**20].memory_ms == timed[None].memory_ms
    lines = predict(a, Profile("p", "cpu", True, "", "sum", 0.0, kinds,
                               fresh_above_bytes=32 * 2**20)).explain(a.root.children[0], 16)
    assert any(f"{out:,} fresh bytes / 2 GB/s" in line for line in lines)


def test_a_profile_without_fresh_rates_reads_as_never_fresh() -> None:
    """Profiles written before the fresh term: no threshold, no fresh rate."""
    data = good()
    del data["fresh_above_bytes"]
    for rate in data["kinds"].values():
        del rate["fresh_gbs"]
    old = parse(json.dumps(data), "old.json")
    assert old.fresh_above_bytes is None
    assert all(rate.fresh_gbs is None for rate in old.kinds.values())
    again = parse(json.dumps({**good(), "fresh_above_bytes": 33554432}), "p.json")
    assert again.fresh_above_bytes == 32 * 2**20
    with pytest.raises(ProfileError, match="p.json: fresh_above_bytes: must be a whole "
                                           "number ≥ 0 or null"):
        parse(json.dumps({**good(), "fresh_above_bytes": -1}), "p.json")


@pytest.mark.parametrize(("name", "options", "shape", "copies"), [
    ("conv", {"out": 64, "kernel": 3}, (64, 8, 8), True),        # oneDNN's blocked layout
    ("conv", {"out": 64, "kernel": 7}, (3, 8, 8), False),        # an image: read as it lies
    ("conv", {"out": 64, "kernel": 3, "groups": 64}, (64, 8, 8), True),
    ("conv", {"out": 2, "kernel": 3, "connections": [[0], [1]]}, (32, 8, 8), False),
    ("conv_transpose", {"out": 8, "kernel": 2, "stride": 2}, (32, 8, 8), True),
    ("relu", {}, (64, 8, 8), False),
])
def test_a_conv_s_copy_of_its_input_is_a_buffer_it_allocates(name: str, options: dict,
                                                            shape: tuple,
                                                            copies: bool) -> None:
    from cnncli.analysis.timing import layer_work

    layer = REGISTRY[name].create(**options)
    cost = layer.infer(shape)
    work = layer_work(layer, shape, cost, 2, 4)
    out, read = 2 * 4 * math.prod(cost.output), 2 * 4 * math.prod(shape)
    assert work.buffers == ((out, read) if copies else (out,))
