"""`cnncli compare`: side by side, ratios, rows aligned by path, sweeps, formats and plots."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, matches_golden

import cnncli

TINY = "docs/examples/tiny_resnet.yaml"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)


def test_totals_and_ratios_are_the_summarys(cli) -> None:
    code, out, _ = cli("compare", "resnet18", "resnet34", "-f", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "cnncli.compare/1"
    first, second = doc["networks"]
    for net, name in ((first, "resnet18"), (second, "resnet34")):
        totals = cnncli.analyze(name).totals()
        assert {k: net[k] for k in ("params", "macs", "flops", "activations")} == \
            {k: totals[k] for k in ("params", "macs", "flops", "activations")}
        assert net["memory_bytes"] == (totals["param_bytes"] + totals["buffer_bytes"]
                                       + totals["activation_bytes"])
    assert first["ratios"]["params"] == 1.0
    assert second["ratios"]["macs"] == round(3_663_761_408 / 1_814_073_344, 6)
    assert second["rf"] == [1091, 1091] and second["rf_stride"] == [224, 224]


def test_rows_align_by_path_or_by_position(cli) -> None:
    _, out, _ = cli("compare", "resnet18", "resnet34", "--depth", "1", "-f", "json")
    rows = json.loads(out)["rows"]
    assert [r["key"] for r in rows][4:8] == ["layer1", "layer2", "layer3", "layer4"]
    layer3 = rows[6]["networks"]
    assert layer3[0]["params"] == 2_099_712 and layer3[1]["params"] == 6_822_400
    assert {r["aligned_by"] for r in rows} == {"path"}
    _, out, _ = cli("compare", "lenet5", "alexnet", "--depth", "1", "-f", "json")
    rows = json.loads(out)["rows"]
    assert rows[0]["aligned_by"] == "position"
    assert [n["path"] for n in rows[0]["networks"]] == ["c1", "conv1"]
    assert rows[-1]["networks"][0] is None  # lenet5 has fewer rows


def test_sweep_is_a_grid_of_set_values(cli) -> None:
    code, out, _ = cli("compare", TINY, "--sweep", "width=8,16", "--sweep",
                       "depths=[1,1,1],[2,2,2]", "-f", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["label"] for r in rows] == ["width=8 depths=[1,1,1]", "width=8 depths=[2,2,2]",
                                          "width=16 depths=[1,1,1]",
                                          "width=16 depths=[2,2,2]"]
    want = cnncli.analyze(TINY, overrides={"width": "16", "depths": "[1,1,1]"}).totals()
    assert int(rows[2]["params"]) == want["params"] and int(rows[2]["macs"]) == want["macs"]


@pytest.mark.parametrize("args,message", [
    (["compare", "lenet5"], "error: compare needs two networks or more: give two specs, or "
                            "one spec with --sweep NAME=V1,V2\n"),
    (["compare", TINY, "--sweep", "width"], "error: --sweep 'width': write NAME=V1,V2,..., "
                                            "e.g. --sweep width=8,16\n"),
    (["compare", TINY, "--sweep", "width=8,", "--sweep", "classes=2"],
     "error: --sweep 'width=8,': write NAME=V1,V2,..., e.g. --sweep width=8,16\n"),
    (["compare", TINY, "--sweep", "width=8,16", "--set", "width=4"],
     "error: --sweep width is given twice (or also with --set)\n"),
    (["compare", "lenet5", "alexnet", "--axes", "params,speed"],
     "error: --axes 'params,speed': write X,Y from params, macs, flops, activations, memory, "
     "e.g. --axes params,macs\n"),
    (["compare", "lenet5", "alexnet", "--plot", "out.jpg"],
     "error: --plot out.jpg: write a .png, .svg or .pdf file\n"),
])
def test_bad_options_say_what_to_write(cli, args: list[str], message: str) -> None:
    code, out, err = cli(*args)
    assert (code, out, err) == (2, "", message)


def test_unknown_sweep_parameter(cli) -> None:
    code, _, err = cli("compare", TINY, "--sweep", "widht=8,16")
    assert code == 2 and "did you mean 'width'" in err and "Traceback" not in err


def test_plot_writes_a_png_and_no_temp_file(cli, tmp_path: Path) -> None:
    target = tmp_path / "sweep.png"
    code, out, err = cli("compare", TINY, "--sweep", "width=8,16,32", "--plot", str(target))
    assert code == 0, err
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.png"]
    assert err == f"wrote {target}: 3 networks, Params 44.37 K–696.62 K, MACs 6.78 M–105.74 M\n"
    assert "width=32" in out


def test_markdown_has_both_tables(cli) -> None:
    _, out, _ = cli("compare", "resnet18", "resnet34", "--depth", "1", "-f", "markdown")
    assert "| resnet34 | 3x224x224 | 1000 | 21,797,672 (1.86x) |" in out
    assert "| layer3 | 2,099,712 | 411,041,792 | 6,822,400 | 1,335,885,824 | 3.25x |" in out


@pytest.mark.slow
def test_plot_imports_matplotlib_not_torch(tmp_path: Path) -> None:
    probe = ("import sys\nfrom cnncli.commands import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    assert e.code == 0\n"
             "assert 'torch' not in sys.modules, 'torch was imported'\n")
    result = subprocess.run([sys.executable, "-c", probe, "compare", "lenet5", "alexnet",
                             "--plot", str(tmp_path / "p.png")], capture_output=True, text=True,
                            timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name,args", [
    ("compare_resnet18_resnet34_depth1", ["compare", "resnet18", "resnet34", "--depth", "1"]),
    ("compare_tiny_resnet_width", ["compare", TINY, "--sweep", "width=8,16,32"]),
])
def test_golden_compare(cli, name: str, args: list[str]) -> None:
    code, out, _ = cli(*args)
    assert code == 0
    assert matches_golden(name, out)
