"""--time on the command line: summary's column, totals and JSON, explain's arithmetic,
compare's ranking, the errors (no profile, a bad one), 80 columns, and no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cnncli
from cnncli.analysis import report
from cnncli.analysis.profile import KINDS, Profile, Rate
from cnncli.analysis.timing import predict


def write_profile(folder: Path, **changes) -> str:
    rates = {kind: Rate(10.0, 100.0, 10.0, 20.0) for kind in KINDS}
    profile = Profile("hand", "cpu", True, "test", "sum", 2.0, rates, threads=2)
    path = folder / "hand.json"
    path.write_text(json.dumps({**profile.as_dict(), **changes}))
    return str(path)


@pytest.fixture
def profile(tmp_path: Path) -> str:
    return write_profile(tmp_path)


def test_summary_time_adds_a_column_and_a_total(cli, profile: str) -> None:
    code, out, _ = cli("summary", "lenet5", "--time", profile)
    assert code == 0
    header = next(line for line in out.splitlines() if line.lstrip().startswith("Layer"))
    assert header.rstrip().endswith("Time ms")
    total = predict(cnncli.analyze("lenet5"), __import__("cnncli.analysis.profile").analysis
                    .profile.read(Path(profile))).total_ms
    assert f"Predicted time      {total:,.2f} ms, forward, on hand, 2 threads (calibrated)" \
        in out
    assert f"Time profile        {profile}" in out


def test_summary_json_has_time_ms_per_layer_and_in_totals(cli, profile: str) -> None:
    code, out, _ = cli("summary", "resnet18", "--time", profile, "-f", "json", "-b", "4",
                       "--depth", "1")
    doc = json.loads(out)
    assert code == 0
    assert sum(layer["time_ms"] for layer in doc["layers"]) == pytest.approx(
        doc["totals"]["time_ms"])
    assert doc["time"]["mode"] == "forward" and doc["time"]["batch"] == 4
    assert doc["time"]["profile"]["calibrated"] is True


def test_summary_train_time_is_a_training_step(cli, profile: str) -> None:
    forward = json.loads(cli("summary", "lenet5", "--time", profile, "-f", "json")[1])
    step = json.loads(cli("summary", "lenet5", "--time", profile, "--train", "-f", "json")[1])
    update = step["time"]["optimizer_ms"]
    assert step["time"]["mode"] == "train" and update > 0
    assert step["totals"]["time_ms"] == pytest.approx(3 * forward["totals"]["time_ms"] + update)
    assert "saved_bytes" in step["layers"][0] and "time_ms" in step["layers"][0]


def test_the_time_column_stays_in_80_columns(profile: str) -> None:
    a = cnncli.analyze("resnet50")
    from cnncli.analysis.profile import read

    timing = predict(a, read(Path(profile)), train=False)
    table = report.summary_renderables(a, None, None, None, timing)[0]
    lines = table.render(80).splitlines()
    assert max(map(len, lines)) <= 80
    header = next(line for line in lines if line.lstrip().startswith("Layer"))
    assert header.split() == ["Layer", "Output", "Params", "MACs", "Time", "ms"]


def test_no_profile_is_one_line_saying_how_to_calibrate(cli, tmp_path: Path,
                                                        monkeypatch) -> None:
    monkeypatch.setenv("CNNCLI_PROFILES", str(tmp_path))
    code, out, err = cli("summary", "lenet5", "--time")
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1
    assert "run `cnncli calibrate`" in err and "--time a100-sxm | h100-sxm" in err


def test_a_bad_profile_file_is_a_located_error(cli, tmp_path: Path) -> None:
    bad = write_profile(tmp_path, combine="min")
    code, out, err = cli("summary", "lenet5", "--time", bad, "-f", "json")
    assert (code, out) == (2, "")
    assert f'{bad}: combine: "min" is not one of sum, max' in err
    assert "Traceback" not in err


def test_time_goes_with_table_or_json(cli, profile: str) -> None:
    code, _, err = cli("summary", "lenet5", "--time", profile, "-f", "csv")
    assert code == 2 and "--time is shown as a table or json, not csv" in err


def test_explain_time_shows_the_arithmetic_and_the_bound(cli) -> None:
    code, out, _ = cli("explain", "resnet18", "layer4.0.conv2", "--time", "t4")
    assert code == 0
    # T4: no TF32, so 50 % of 8.1 TFLOP/s; 80 % of 320 GB/s; the layer reads 9.4 MB of weights
    assert "kind = conv3x3 (dense conv with a 3x3 kernel)" in out
    assert "compute = 231,211,008 ops / 4,050 Gop/s = 0.0571 ms" in out
    assert ("memory = 200,704 activation bytes / 256 GB/s + 9,437,184 weight bytes / 256 "
            "GB/s = 0.0376 ms") in out
    assert "forward = overhead + max(compute, memory) = 0.0651 ms: compute-bound" in out
    doc = json.loads(cli("explain", "resnet18", "layer4.0.conv2", "--time", "t4", "-f",
                         "json")[1])
    assert doc["rows"][0]["time"]["bound"] == "compute"
    assert doc["rows"][0]["time"]["forward_ms"] == pytest.approx(0.0651, abs=1e-4)


def test_explain_time_needs_a_layer(cli) -> None:
    code, _, err = cli("explain", "resnet18", "--time", "t4")
    assert code == 2 and "give LAYER-PATHs" in err


def test_compare_ranks_by_predicted_time(cli) -> None:
    code, out, _ = cli("compare", "resnet50", "mobilenet_v3_small", "resnet18", "--time",
                       "h100-sxm", "--sort", "time", "-f", "json")
    networks = json.loads(out)["networks"]
    assert code == 0
    times = [n["time_ms"] for n in networks]
    assert times == sorted(times)
    assert networks[-1]["label"] == "resnet50"
    code, _, err = cli("compare", "resnet50", "resnet18", "--sort", "time")
    assert code == 2 and "--sort time ranks by predicted time: add --time" in err


def test_compare_sorts_by_a_total_too(cli) -> None:
    out = cli("compare", "resnet50", "resnet18", "mobilenet_v2", "--sort", "params",
              "-f", "json")[1]
    assert [n["label"] for n in json.loads(out)["networks"]] == ["mobilenet_v2", "resnet18",
                                                                  "resnet50"]


@pytest.mark.slow  # a subprocess
def test_summary_time_never_imports_torch(profile: str) -> None:
    probe = ("import sys\nfrom cnncli.commands import main\ntry:\n    main(sys.argv[1:])\n"
             "except SystemExit as e:\n    assert not e.code, e.code\n"
             "print('torch' in sys.modules, 'numpy' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", probe, "summary", "resnet50", "--time",
                             profile, "--train"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False False"
