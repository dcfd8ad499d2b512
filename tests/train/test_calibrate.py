"""Calibration: the fit recovers known rates exactly, and a real calibration on the CPU
writes a valid profile that summary --time then reads."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import torch

from cnncli.analysis.profile import KINDS, read
from cnncli.analysis.timing import Work
from cnncli.commands import main
from cnncli.train.calibrate import Sample, fit
from cnncli.train.calibrate_cases import CASES, OPS


def test_the_fit_recovers_the_rates_that_made_the_times() -> None:
    """12 µs a call, 250 Gop/s, 20 GB/s of activations, 5 GB/s of weights, no noise."""
    samples = []
    for i, (ops, act, weights) in enumerate([(1e6, 1e5, 1e4), (5e7, 2e6, 1e4), (1e8, 1e5, 4e6),
                                             (2e6, 8e6, 2e5), (3e8, 3e6, 1e6)]):
        seconds = 12e-6 + ops / 250e9 + act / 20e9 + weights / 5e9
        samples.append(Sample(str(i), Work("conv3x3", int(ops), int(act), int(weights)),
                              seconds))
    rate, error = fit(samples)
    assert rate.overhead_us == pytest.approx(12.0, rel=1e-6)
    assert (rate.gops, rate.act_gbs, rate.weight_gbs) == pytest.approx((250, 20, 5), rel=1e-4)
    assert error == pytest.approx(0.0, abs=1e-9)


def test_a_term_that_does_not_matter_is_left_out() -> None:
    """Times that grow with ops alone: the bytes get no rate (null, never limiting)."""
    samples = [Sample(str(n), Work("pool", n, 7 * n, 0), 3e-6 + n / 2e9)
               for n in (10**4, 10**5, 10**6, 10**7)]
    rate, _ = fit(samples)
    assert rate.overhead_us == pytest.approx(3.0, rel=1e-6)
    assert rate.gops == pytest.approx(2.0, rel=1e-6)
    assert (rate.act_gbs, rate.weight_gbs) == (None, None)


def test_the_fit_takes_the_machine_s_fresh_memory_time_off_first() -> None:
    """Outputs over the threshold (here 1 MB) cost 2.5 GB/s more, the machine's measured
    fresh rate; smaller ones do not. The rest is fitted exactly, and the kind's fresh rate
    is the machine's."""
    samples = []
    for i, (act, out) in enumerate([(2e5, 1e5), (2e6, 1e6), (8e6, 4e6), (3e7, 1.5e7),
                                    (1e8, 5e7)]):
        fresh = out if out > 1_000_000 else 0
        seconds = 5e-6 + act / 20e9 + fresh / 2.5e9
        samples.append(Sample(str(i), Work("elementwise", 0, int(act), 0, 1, (int(out),)),
                              seconds))
    rate, error = fit(samples, fresh=1_000_000, fresh_gbs=2.5)
    assert rate.overhead_us == pytest.approx(5.0, rel=1e-6)
    assert (rate.act_gbs, rate.fresh_gbs) == pytest.approx((20, 2.5), rel=1e-4)
    assert error == pytest.approx(0.0, abs=1e-9)
    # without the machine's rate the fresh outputs' time lands on the activation bytes
    rate, error = fit(samples, fresh=1_000_000)
    assert rate.fresh_gbs is None and rate.act_gbs < 15 and error > 0.05


def test_nothing_is_fresh_on_cuda_so_no_rate_is_probed() -> None:
    from cnncli.train.calibrate import fresh_rate

    assert fresh_rate(torch.device("cpu"), None, 3) is None


def test_fresh_memory_is_glibc_s_and_never_cuda_s(monkeypatch) -> None:
    from cnncli.train import calibrate

    monkeypatch.setattr(calibrate.platform, "libc_ver", lambda: ("glibc", "2.36"))
    assert calibrate.fresh_above(torch.device("cpu")) == 32 * 2**20
    assert calibrate.fresh_above(torch.device("cuda")) is None
    monkeypatch.setattr(calibrate.platform, "libc_ver", lambda: ("", ""))
    assert calibrate.fresh_above(torch.device("cpu")) is None


def test_a_layer_keeps_its_fastest_pass_or_if_fresh_its_median() -> None:
    from cnncli.train.calibrate import kept

    passes = [8.0, 26.0, 25.0, 27.0, 9.0]  # fresh memory in three passes of five
    assert kept(passes, fresh=False) == 8.0
    assert kept(passes, fresh=True) == 25.0


def test_the_overhead_is_per_call() -> None:
    """Tables of one to three grouped convs: the fit takes the overhead per call."""
    samples = [Sample(str(calls), Work("conv_table", ops, 0, 0, calls), calls * 40e-6 + ops / 5e9)
               for calls, ops in [(1, 10**5), (2, 10**5), (3, 10**6), (1, 10**7), (3, 10**7)]]
    rate, error = fit(samples)
    assert rate.overhead_us == pytest.approx(40.0, rel=1e-6)
    assert rate.gops == pytest.approx(5.0, rel=1e-6)
    assert error == pytest.approx(0.0, abs=1e-9)


def test_every_kind_is_calibrated_by_several_cases() -> None:
    from cnncli.layers import REGISTRY

    counts = {kind: 0 for kind in KINDS}
    for name, options, shape, _ in CASES:
        counts[REGISTRY[name].create(**options).calls(shape).kind] += 1
    counts["elementwise"] += len(OPS)
    assert min(counts.values()) >= 3, counts


def test_kinds_with_big_outputs_in_the_zoo_are_calibrated_on_fresh_memory() -> None:
    """Each kind whose layers make outputs over 32 MiB at batch 16 has such a case, so its
    rates are fitted on what is left of those sizes once the machine's fresh time is off."""
    from cnncli.analysis.profile import fresh_bytes
    from cnncli.analysis.timing import layer_work
    from cnncli.layers import REGISTRY

    fresh = set()
    for name, options, shape, batch in CASES:
        layer = REGISTRY[name].create(**options)
        work = layer_work(layer, shape, layer.infer(shape), batch, 4)
        if fresh_bytes(work.buffers, 32 * 2**20):
            fresh.add(work.kind)
    assert {"conv1x1", "conv3x3", "conv_kxk", "conv_grouped", "conv_depthwise",
            "conv_transpose", "maxpool", "norm", "elementwise", "transcendental"} <= fresh


def test_connection_tables_are_calibrated_with_one_to_three_calls() -> None:
    """The per-call overhead is only told apart from the rest with several call counts."""
    from cnncli.layers import REGISTRY

    calls = {REGISTRY[name].create(**options).calls(shape).count
             for name, options, shape, _ in CASES if "connections" in options}
    assert calls == {1, 2, 3}


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One real calibration on the CPU (`calibrate --repeats 1 -o FILE -f json`), shared by
    the two tests below: (exit code, stdout, stderr, the file, the Profile it measured)."""
    from cnncli.train import calibrate

    target = tmp_path_factory.mktemp("calibrate") / "here.json"
    measured = []

    def measure(*args, **kwargs):  # type: ignore[no-untyped-def]
        measured.append(real(*args, **kwargs))
        return measured[-1]

    real = calibrate.calibrate
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(err), pytest.raises(SystemExit) as exit_info:
        patch.setattr(calibrate, "calibrate", measure)
        main(["calibrate", "--device", "cpu", "--repeats", "1", "-o", str(target), "-f",
              "json"])
    (profile,) = measured
    return exit_info.value.code, out.getvalue(), err.getvalue(), target, profile


@pytest.mark.slow  # about 100 layers timed twice: 3-10 s on 2 cores
def test_calibrate_writes_a_profile_that_summary_reads(calibrated, cli) -> None:
    code, out, err, target, _ = calibrated
    assert code == 0, err
    assert f"wrote {target}" in err
    profile = read(target)
    assert json.loads(out) == json.loads(target.read_text())
    assert (profile.device, profile.calibrated, profile.combine) == ("cpu", True, "sum")
    assert profile.threads == torch.get_num_threads()
    assert set(profile.kinds) == set(KINDS)
    assert all(rate.overhead_us >= 0 for rate in profile.kinds.values())
    assert profile.backward_ratio >= 0  # about 2 on a quiet machine; noise may hide it
    # one fresh rate for the machine, probed once, or none where nothing costs more
    assert len({rate.fresh_gbs for rate in profile.kinds.values()}) == 1
    code, out, _ = cli("summary", "lenet5", "--time", str(target))
    assert code == 0 and "(calibrated)" in out


@pytest.mark.slow
def test_calibrate_goes_to_the_cache_named_after_the_device(calibrated, cli, tmp_path: Path,
                                                            monkeypatch) -> None:
    """Without -o the profile goes to the cache, named after the device, where summary
    --time finds it. The measuring itself is the one the test above made (the same
    `calibrate --device cpu --repeats 1`): here the command is run again on its profile, not
    the machine timed twice."""
    from cnncli.analysis.profile import cpu_model, file_name
    from cnncli.train import calibrate

    def measure(device, repeats, progress=None):  # type: ignore[no-untyped-def]
        assert (device, repeats) == ("cpu", 1)
        return calibrated[4]

    monkeypatch.setattr(calibrate, "calibrate", measure)
    monkeypatch.setenv("CNNCLI_PROFILES", str(tmp_path / "profiles"))
    code, out, err = cli("calibrate", "--device", "cpu", "--repeats", "1")
    assert code == 0, err
    expected = tmp_path / "profiles" / file_name("cpu", cpu_model(), torch.get_num_threads())
    assert expected.is_file() and "conv3x3" in out
    assert read(expected).as_dict() == calibrated[4].as_dict()
    code, out, _ = cli("summary", "lenet5", "--time")  # this machine's, found by itself
    assert code == 0 and str(expected) in out
