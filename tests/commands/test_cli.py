"""The static commands as a user runs them: output formats, the JSON contract, depth
collapsing, golden tables, and that none of them imports torch."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, matches_golden

import cnncli


def test_summary_json_contract(cli) -> None:
    code, out, err = cli("summary", "vgg16", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["schema"] == "cnncli.summary/1"
    assert doc["name"] == "vgg16"
    assert doc["input"] == [3, 224, 224]
    assert doc["batch"] == 1
    assert doc["output"] == [1000]
    for layer in doc["layers"]:
        assert {"path", "type", "output", "params", "macs", "flops"} <= set(layer)
        assert layer["flops"] == 2 * layer["macs"]
    totals = doc["totals"]
    assert totals["params"] == totals["trainable_params"] == 138_357_544
    assert totals["macs"] == 15_470_264_320
    assert totals["flops"] == 2 * totals["macs"]
    assert "flop_counter" in doc["conventions"]["flops"]
    assert sum(layer["params"] for layer in doc["layers"]) == totals["params"]
    assert sum(layer["macs"] for layer in doc["layers"]) == totals["macs"]
    paths = [layer["path"] for layer in doc["layers"]]
    assert paths[0] == "features.0"  # torchvision's numbering
    assert "classifier.6" in paths


def test_batch_scales_work_not_params(cli) -> None:
    code, out, _ = cli("summary", "specs/alexnet.yaml", "--input", "3x227x227", "--batch",
                       "32", "-f", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["batch"] == 32
    assert doc["totals"]["macs"] == 32 * 724_406_816
    assert doc["totals"]["params"] == 60_965_224
    assert doc["totals"]["activation_bytes"] == doc["totals"]["activations"] * 4
    assert doc["totals"]["param_bytes"] == 60_965_224 * 4


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_depth_collapses_blocks_and_rows_add_up(cli, depth: int) -> None:
    code, out, _ = cli("summary", "resnet50", "--depth", str(depth), "-f", "json")
    doc = json.loads(out)
    assert all(layer["depth"] <= depth for layer in doc["layers"])
    for key in ("params", "macs", "flops", "other_ops", "activations"):
        assert sum(layer[key] for layer in doc["layers"]) == doc["totals"][key], key
    if depth == 1:
        assert [row["path"] for row in doc["layers"]][4:8] == ["layer1", "layer2", "layer3",
                                                             "layer4"]
    if depth == 2:
        row = next(r for r in doc["layers"] if r["path"] == "layer1.0")
        assert row["type"] == "bottleneck"
        assert row["output"] == [256, 56, 56]


def test_csv_matches_json(cli) -> None:
    _, out_csv, _ = cli("summary", "lenet5", "-f", "csv")
    _, out_json, _ = cli("summary", "lenet5", "-f", "json")
    rows = list(csv.DictReader(io.StringIO(out_csv)))
    layers = json.loads(out_json)["layers"]
    assert [r["path"] for r in rows] == [layer["path"] for layer in layers]
    assert [int(r["macs"]) for r in rows] == [layer["macs"] for layer in layers]
    assert rows[0]["output"] == "6x28x28"


def test_markdown_summary(cli) -> None:
    code, out, _ = cli("summary", "lenet5", "-f", "markdown")
    assert code == 0
    assert "| Layer | Type | Output | Params | MACs |" in out
    assert "| c1 | conv | 6x28x28 | 156 | 117,600 |" in out
    assert "416,520" in out


def test_flops_breakdown_shows_the_bottleneck_argument(cli) -> None:
    code, out, _ = cli("flops", "inception_bottleneck")
    assert code == 0
    assert "compare.direct" in out and "112,896,000" in out
    assert "compare.reduced" in out and "5,268,480" in out


def test_flops_json_by_type_adds_up(cli) -> None:
    _, out, _ = cli("flops", "resnet18", "-f", "json")
    doc = json.loads(out)
    assert doc["schema"] == "cnncli.flops/1"
    by_type = {r["type"]: r for r in doc["by_type"]}
    assert by_type["conv"]["count"] == 20  # 17 in the body + 3 projections
    assert sum(r["macs"] for r in doc["by_type"]) == doc["totals"]["macs"]
    assert sum(r["other_ops"] for r in doc["by_type"]) == doc["totals"]["other_ops"]
    assert by_type["add"]["count"] == 8
    assert [r["path"] for r in doc["by_block"]][4:8] == ["layer1", "layer2", "layer3", "layer4"]
    assert sum(r["macs"] for r in doc["by_block"]) == doc["totals"]["macs"]


def test_flops_top(cli) -> None:
    _, out, _ = cli("flops", "vgg16", "--top", "3", "-f", "json")
    rows = json.loads(out)["by_layer"]
    assert len(rows) == 3
    assert rows[0]["macs"] >= rows[1]["macs"] >= rows[2]["macs"]


@pytest.mark.slow
def test_list_shows_every_variant(cli) -> None:
    code, out, _ = cli("list", "-f", "json")
    assert code == 0
    nets = {n["name"]: n for n in json.loads(out)["networks"]}
    assert nets["resnet152"]["params"] == 60_192_808
    assert nets["googlenet_tv"]["macs"] == 1_498_376_192
    assert {"vgg11", "vgg19_bn", "alexnet_tv", "lenet5", "inception_bottleneck"} <= set(nets)
    code, out, _ = cli("list")
    assert "resnet152" in out and "60,192,808" in out


def test_check_command(cli, write_spec) -> None:
    code, out, _ = cli("check", "lenet5", "resnet18")
    assert code == 0
    assert "ok  lenet5: lenet5, input 1x32x32, output 10, 61,706 params" in out
    bad = write_spec("name: x\ninput: [1, 4, 4]\nlayers:\n  - conv: {out: 2, kernel: 5}\n")
    code, out, err = cli("check", "lenet5", bad)
    assert code == 2
    assert "ok  lenet5" in out
    assert f"{bad}:4:5: layer 0: conv on input 1x4x4: kernel 5 along H is larger" in err


def test_summary_and_check_refuse_a_bad_train_option_alike(cli, write_spec) -> None:
    """`train:` is read into typed options when the spec loads: every command refuses a bad
    value with the same located message, before any training starts."""
    bad = write_spec("name: x\ninput: [1, 8, 8]\nlayers:\n  - flatten\n  - linear: {out: 2}\n"
                     "train: {epochs: 3, optimizer: sgdd}\n")
    expected = (f"error: {bad}:6:31: train: optimizer must be one of sgd, adam, adamw, got "
                "'sgdd' (did you mean 'sgd'?)\n")
    for command in ("summary", "check", "flops"):
        code, out, err = cli(command, bad)
        assert (code, out, err) == (2, "", expected), command
    code, _, err = cli("check", write_spec("name: y\ninput: [4]\nlayers:\n  - linear: {out: 2}\n"
                                           "train: {learning_rate: 0.1}\n", "y.yaml"))
    assert code == 2 and ":5:9: unknown training option 'learning_rate'" in err


def test_a_spec_recipe_is_typed_when_loaded(write_spec) -> None:
    from cnncli.spec.recipe import Recipe

    net = cnncli.load(write_spec("name: x\ninput: [4]\nlayers:\n  - linear: {out: 2}\n"
                                 "train: {batch-size: 32, lr: 1, augment: flip}\n"))
    assert net.train == Recipe({"batch_size": 32, "lr": 1.0, "augment": ("flip",)})
    assert net.train.given("batch_size") and not net.train.given("epochs")
    assert net.train.options().lr == 1.0 and net.train.options().epochs == 10
    assert cnncli.load("resnet18").train == Recipe()  # no train: section


def test_set_and_input_options(cli) -> None:
    _, out, _ = cli("summary", "lenet5", "--set", "classes=3", "-f", "json")
    assert json.loads(out)["output"] == [3]
    code, _, err = cli("summary", "lenet5", "--set", "clases=3")
    assert code == 2 and "did you mean 'classes'" in err


def test_version_and_help(cli) -> None:
    code, out, _ = cli("--version")
    assert code == 0 and "cnncli" in out
    code, out, _ = cli("--help")
    assert code == 0
    for command in ("summary", "flops", "list", "check"):
        assert command in out


@pytest.mark.parametrize("args", [
    ["summary", "resnet152"], ["flops", "googlenet"], ["list"], ["check", "vgg16"],
    ["summary", "alexnet", "-f", "json"], ["--help"], ["spec", "vgg16_bn"],
    ["explain", "googlenet"], ["explain", "resnet18", "layer2.0", "-f", "json"],
    ["compare", "resnet18", "resnet34", "--depth", "1"], ["diagram", "googlenet", "-d", "2"],
    ["summary", "resnet50", "--train", "--optimizer", "adam", "--max-batch", "8GiB"],
])
def test_static_commands_never_import_torch(args: list[str]) -> None:
    """The static commands start fast because torch is never imported (it takes ~2 s)."""
    probe = ("import sys\nfrom cnncli.commands import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
             "assert 'torch' not in sys.modules, 'torch was imported'\n"
             "sys.stdout.write('\\nCODE=%s' % code)\n")
    result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("CODE=0")


def test_python_m_entry_point() -> None:
    result = subprocess.run([sys.executable, "-m", "cnncli", "check", "lenet5"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "61,706 params" in result.stdout


@pytest.mark.parametrize("name,args", [
    ("summary_lenet5", ["summary", "lenet5"]),
    ("summary_resnet18_depth2", ["summary", "resnet18", "--depth", "2"]),
    ("flops_inception_bottleneck", ["flops", "inception_bottleneck"]),
])
def test_golden_tables(cli, name: str, args: list[str]) -> None:
    """Tables are the product: compare with reviewed output (CNNCLI_REGEN_GOLDEN=1 rewrites)."""
    code, out, _ = cli(*args)
    assert code == 0
    assert matches_golden(name, out)


@pytest.mark.slow
def test_wheel_ships_the_zoo(tmp_path: Path) -> None:
    """After a normal (not editable) install, zoo names work from any folder."""
    pytest.importorskip("setuptools")
    root = ROOT
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "wheel"), str(root)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp_path / "wheel").glob("cnncli-*.whl")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
         str(tmp_path / "site"), str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    run = subprocess.run([sys.executable, "-m", "cnncli", "check", "resnet50"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "25,557,032 params" in run.stdout
    probe = subprocess.run([sys.executable, "-c",
                            "import cnncli.spec.zoo as z; print(z.zoo_dir())"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert probe.stdout.strip() == str(tmp_path / "site" / "cnncli" / "specs")
    # the MNIST sample and its credit travel in the wheel: offline training needs no checkout
    run = subprocess.run([sys.executable, "-m", "cnncli", "summary", "alexnet.yaml"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert run.returncode == 0 and "using the zoo's alexnet" in run.stderr
    sample = tmp_path / "site" / "cnncli" / "train" / "datasets" / "mnist_sample"
    assert sorted(p.name for p in sample.glob("*.gz")) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz"]
    notice = next((tmp_path / "site").glob("cnncli-*.dist-info/licenses/NOTICE")).read_text()
    assert "Yann LeCun, Corinna Cortes and Christopher J. C. Burges" in notice
    assert "CC BY-SA 3.0" in notice


def test_set_takes_the_type_the_spec_declares_not_a_variants(cli, write_spec) -> None:
    """A variant that sets a float parameter to 0 leaves it a number: --set drop=0.5 works."""
    spec = write_spec("""
        name: fam
        input: [3, 8, 8]
        params: {drop: 0.1}
        variants:
          nodrop: {params: {drop: 0}}
        layers: [flatten, dropout: {p: drop}, linear: {out: 4}]
        """)
    code, out, err = cli("summary", f"{spec}:nodrop", "--set", "drop=0.5", "-f", "json")
    assert code == 0, err
    assert json.loads(out)["spec_params"]["drop"] == 0.5
    code, _, err = cli("summary", f"{spec}:nodrop", "--set", "drop=abc")
    assert (code, err) == (2, "error: --set drop: expected a number like 0, got 'abc'\n")
