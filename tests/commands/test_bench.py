"""`cnncli bench` as a user runs it: real measured structure beside the analyzer's figures.

Tiny runs (lenet5, batch 2, 2 repeats) keep it to seconds; no assertion depends on speed.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import pytest

import cnncli
from cnncli.analysis.training import training_memory

ARGS = ("bench", "lenet5", "--batch", "2", "--repeats", "2", "--warmup", "1")


@pytest.fixture(scope="module")
def forward_doc() -> dict:
    """One JSON forward run shared by the checks below (torch runs are the slow part)."""
    from cnncli.commands import main

    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_info, contextlib.redirect_stdout(out):
        main([*ARGS, "-f", "json"])
    assert exit_info.value.code == 0
    return json.loads(out.getvalue())


def test_json_header_and_timings_consistent(forward_doc: dict) -> None:
    doc = forward_doc
    assert doc["schema"] == "cnncli.bench/1"
    assert (doc["network"], doc["batch"], doc["mode"], doc["device"]) == \
        ("lenet5", 2, "forward", "cpu")
    assert doc["input"] == [1, 32, 32] and (doc["warmup"], doc["repeats"]) == (1, 2)
    lat = doc["latency_ms"]
    assert len(lat["all"]) == 2 and lat["min"] <= lat["median"] <= lat["max"]
    assert lat["median"] == pytest.approx(sum(lat["all"]) / 2)  # median of two
    ips = doc["images_per_s"]
    assert ips["median"] == pytest.approx(2 / (lat["median"] / 1e3), rel=1e-9)
    assert ips["max"] == pytest.approx(2 / (lat["min"] / 1e3), rel=1e-9)
    assert doc["peak_memory"]["kind"] == "cpu_peak_rss_growth"
    assert "not an allocator peak" in doc["peak_memory"]["note"]
    assert doc["predicted_training_memory"] is None


def test_layer_macs_equal_the_analysis(forward_doc: dict) -> None:
    a = cnncli.analyze("lenet5", batch=2)
    expected = {row.path: (row.kind, row.macs * 2) for row in a.root.walk() if row.is_layer}
    layers = forward_doc["layers"]
    assert {r["path"]: (r["type"], r["macs"]) for r in layers} == expected
    assert sum(r["macs"] for r in layers) == a.totals()["macs"]
    assert sum(r["macs_pct"] for r in layers) == pytest.approx(100)
    assert sum(r["time_pct"] for r in layers) == pytest.approx(100)
    assert all(r["ms"] > 0 for r in layers if r["type"] in ("conv", "linear"))
    conv = next(r for r in layers if r["path"] == "c1")
    assert conv["gflops_per_s"] == pytest.approx(2 * conv["macs"] / (conv["ms"] / 1e3) / 1e9)


def test_train_shows_predicted_memory(cli) -> None:
    code, out, err = cli(*ARGS, "--train", "-f", "json")
    assert code == 0, err
    doc = json.loads(out)
    predicted = training_memory(cnncli.analyze("lenet5", batch=2), "sgd", False, "cpu")
    assert doc["mode"] == "train"
    assert doc["predicted_training_memory"]["total_bytes"] == predicted.total_bytes
    assert doc["predicted_training_memory"] == predicted.as_dict()
    assert "benchmarking lenet5 (training step, batch 2) on cpu" in err


def test_table_has_speed_memory_and_top_layers(cli) -> None:
    code, out, err = cli(*ARGS, "--top", "3")
    assert code == 0, err
    assert "lenet5: forward, batch 2, on cpu (cpu); 2 timed after 1 warm-up" in out
    assert "measured (cpu_peak_rss_growth)" in out
    assert "top 3 of 12" in out
    header = next(line for line in out.splitlines() if line.lstrip().startswith("Layer"))
    assert header.split() == ["Layer", "Type", "ms", "%", "time", "MACs", "%", "MACs",
                              "GFLOP/s"]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_one_error(cli) -> None:
    code, out, err = cli("bench", "lenet5", "--device", "cuda")
    assert code == 2 and out == ""
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == ["error: --device cuda: no CUDA device is available"]


def test_help_lists_bench_without_importing_torch() -> None:
    probe = ("import sys\nfrom cnncli.commands import main\n"
             "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             "assert 'torch' not in sys.modules, 'torch was imported'\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "bench" in result.stdout and "Measured images/s" in result.stdout
