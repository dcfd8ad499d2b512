"""One run, three commands: train, then eval and predict by checkpoint, run folder or network
name; what a run says (recipe, notes, epoch rows, the end, Ctrl-C, resume); image folders
smaller than a batch; predict's --fit, --invert and the colour-polarity hint."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import click
import numpy as np
import pytest
import torch
from conftest import in_terminal, screen

import cnncli
from cnncli.errors import UsageError
from cnncli.train import data as train_data
from cnncli.train import infer
from cnncli.train.datasets import DatasetUnavailable
from cnncli.train.progress import COLUMNS, epoch_row, recipe_line
from cnncli.train.recipe import resolve
from cnncli.train.run import fit_batch

TINY = """
name: tiny
input: [1, 12, 12]
params: {classes: 4}
layers:
  - conv: {out: 4, kernel: 3, padding: 1}
  - relu
  - maxpool: {kernel: 2}
  - flatten
  - linear: {out: classes}
"""

MNIST_RECORD = {"name": "mnist-sample", "mean": [0.1], "std": [0.3], "fit": "pad",
                "classes": list("0123456789")}
LENET = SimpleNamespace(name="lenet5", input=[1, 32, 32])

# these call the functions behind the commands and read the notes the CLI would show
pytestmark = pytest.mark.usefixtures("notes_on_stderr")


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _touch_run(folder: Path, *names: str, mtime: float | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")
        if mtime is not None:
            os.utime(folder / name, (mtime, mtime))


# -- which checkpoint: file, run folder, network name -------------------------------------

def test_a_zoo_name_or_alias_finds_its_newest_run(here: Path, capsys) -> None:
    _touch_run(here / "runs" / "lenet5", "best.pt", "last.pt", mtime=1_000)
    _touch_run(here / "runs" / "lenet5-bs8", "last.pt", mtime=2_000)
    (here / "runs" / "lenet5-bs8" / "run.json").write_text('{"name": "lenet5"}')
    _touch_run(here / "runs" / "lenet5_paper", "best.pt", mtime=3_000)  # another network
    assert infer.find_checkpoint("lenet") == "runs/lenet5-bs8/last.pt"
    assert capsys.readouterr().err == ("note: using runs/lenet5-bs8/last.pt (last epoch; no "
                                       "best.pt of lenet5's newest run)\n")
    assert infer.find_checkpoint("runs/lenet5") == "runs/lenet5/best.pt"
    assert capsys.readouterr().err == "note: using runs/lenet5/best.pt (best epoch)\n"
    assert infer.find_checkpoint("runs/lenet5/last.pt") == "runs/lenet5/last.pt"
    assert capsys.readouterr().err == ""


def test_nothing_to_evaluate_says_where_it_looked_and_what_to_run(here: Path, cli) -> None:
    code, out, err = cli("eval", "lenet")
    assert code == 2 and out == ""
    assert err == ("error: no run of lenet5 here: looked for a file 'lenet' and for "
                   "runs/lenet5/best.pt or last.pt (or a run of lenet5 in another folder of "
                   "runs/); train it first: cnncli train lenet5\n")
    code, _, err = cli("eval", "alexnet")  # a canonical zoo name, typed as it is
    assert code == 2 and err.startswith("error: no run of alexnet here: looked for a file "
                                        "'alexnet' and for runs/alexnet/best.pt or last.pt")
    code, _, err = cli("predict", "runs/lenet5", "digit.png")
    assert code == 2 and err == ("error: no checkpoint file or run folder runs/lenet5; `cnncli "
                                 "train SPEC` writes runs/<spec name>/best.pt and last.pt\n")
    code, _, err = cli("eval", "lenett")
    assert code == 2 and err == ("error: no checkpoint, run folder, spec file or zoo network "
                                 "named 'lenett' (did you mean 'lenet'?), and no runs/lenett/ "
                                 "here\n")
    (here / "empty").mkdir()
    code, _, err = cli("eval", "empty")
    assert code == 2 and err.startswith("error: empty holds no best.pt or last.pt, so it is "
                                        "not a run folder")


@pytest.mark.slow
def test_train_then_eval_and_predict_by_spec_folder_and_file(here: Path, cli,
                                                            write_spec) -> None:
    spec = write_spec(TINY, "tiny.yaml")
    code, out, err = cli("train", "tiny.yaml", "--data", "synthetic", "--epochs", "1",
                         "--device", "cpu")
    assert code == 0, err
    assert out.splitlines()[-2:] == ["next: cnncli eval tiny.yaml",
                                     "      cnncli predict tiny.yaml IMAGE"]
    for ref in ("tiny", "tiny.yaml", "runs/tiny", "runs/tiny/best.pt"):
        code, out, err = cli("eval", ref, "-f", "json")
        assert code == 0, (ref, err)
        assert '"checkpoint": "runs/tiny/best.pt"' in out
    assert err == ""  # a checkpoint file needs no note
    np.save(here / "x.npy", np.zeros((12, 12), np.uint8))
    code, out, err = cli("predict", spec, "x.npy")
    assert code == 0, err
    assert err == "note: using runs/tiny/best.pt (best epoch of tiny's newest run)\n"
    assert re.fullmatch(r"x\.npy: (\d \d\.\d{4}, ){2}\d \d\.\d{4}\n", out)


# -- predict: --fit, --invert, colour polarity ----------------------------------------------

def _png(path: Path, pixels: np.ndarray) -> str:
    image_module = pytest.importorskip("PIL.Image")
    image_module.fromarray(pixels.astype(np.uint8)).save(path)
    return str(path)


def test_a_large_drawing_is_told_to_use_fit(tmp_path: Path) -> None:
    drawing = _png(tmp_path / "drawing.png", np.zeros((200, 180)))
    with pytest.raises(UsageError) as caught:
        infer.predict_image(drawing, LENET, MNIST_RECORD, None, False)
    assert str(caught.value) == (f"{drawing}: the image is 180x200 but lenet5 takes 32x32, and "
                                 "--fit pad (as in training) cannot shrink it; pass --fit "
                                 "resize (or crop)")
    assert infer.predict_image(drawing, LENET, MNIST_RECORD, "resize", False).shape == (1, 32, 32)
    assert infer.predict_image(drawing, LENET, MNIST_RECORD, "crop", False).shape == (1, 32, 32)


def test_dark_on_light_digit_gets_the_polarity_hint_and_invert_fixes_it(tmp_path: Path,
                                                                        capsys) -> None:
    ink = np.full((28, 28), 255)
    ink[6:22, 12:16] = 0  # a black stroke on white paper
    file = _png(tmp_path / "paper.png", ink)
    image = infer.predict_image(file, LENET, MNIST_RECORD, None, False)
    assert capsys.readouterr().err == (f"note: {file} is dark on light, the opposite of the "
                                       "training images (MNIST: white on black); try --invert\n")
    assert image[0, 2:30, 2:30].float().mean() > 200  # padded as in training, not inverted
    inverted = infer.predict_image(file, LENET, MNIST_RECORD, None, True)
    assert capsys.readouterr().err == ""
    # the stroke (rows 8-23, columns 14-17 after 2 pixels of padding) is now the light part
    assert inverted[0, 16, 16] == 255 and inverted[0, 16, 6] == 0
    light = _png(tmp_path / "mnist_like.png", 255 - ink)
    infer.predict_image(light, LENET, MNIST_RECORD, None, False)
    assert capsys.readouterr().err == ""


def test_predict_takes_fit_and_invert_on_the_command_line(here: Path, cli, write_spec) -> None:
    write_spec(TINY, "tiny.yaml")
    assert cli("train", "tiny.yaml", "--data", "synthetic", "--epochs", "1",
               "--device", "cpu", "--fit", "pad")[0] == 0
    big = _png(here / "big.png", np.zeros((40, 40)))
    code, _, err = cli("predict", "runs/tiny", big)
    assert code == 2 and "and --fit pad (as in training) cannot shrink it; pass --fit " \
        "resize (or crop)" in err
    code, out, err = cli("predict", "runs/tiny", big, "--fit", "resize", "--invert")
    assert code == 0, err
    assert out.startswith(f"{big}: ")


# -- the batch and the learning rate ---------------------------------------------------------

def test_lr_follows_the_batch_by_the_linear_rule(capsys) -> None:
    recipe = cnncli.load("lenet5").train
    options = resolve(recipe, {"batch_size": 8})
    fit_batch(options, 8000, recipe, {"batch_size"})
    assert options.batch_size == 8 and options.lr == pytest.approx(0.15 * 8 / 256)
    assert capsys.readouterr().err == ("note: lr 0.00469 = the recipe's 0.15 x 8/256 (linear "
                                       "scaling rule; --lr sets it)\n")
    options = resolve(recipe, {"batch_size": 8, "lr": 0.02})
    fit_batch(options, 8000, recipe, {"batch_size", "lr"})
    assert options.lr == 0.02 and capsys.readouterr().err == ""
    options = resolve(None, {"batch_size": 8})  # no recipe: nothing to scale from
    fit_batch(options, 8000, None, {"batch_size"})
    assert options.lr == 0.01


def test_a_small_folder_shrinks_the_batch_unless_it_was_typed(capsys) -> None:
    options = resolve(None, {})
    fit_batch(options, 24, None, set())
    assert options.batch_size == 24
    assert capsys.readouterr().err == ("note: batch size 24: the default 64 is more than the "
                                       "24 training images\n")
    recipe = cnncli.load("lenet5").train
    options = resolve(recipe, {})
    fit_batch(options, 100, recipe, set(), world=2)
    assert options.batch_size == 100 and options.lr == pytest.approx(0.15 * 100 / 256)
    assert capsys.readouterr().err.splitlines()[0] == (
        "note: batch size 100: the recipe's 256 is more than the 100 training images per "
        "process")
    with pytest.raises(UsageError, match=r"^--batch-size 64 is larger than the 24 training "
                                         r"images; pass --batch-size 24 or less$"):
        fit_batch(resolve(None, {"batch_size": 64}), 24, None, {"batch_size"})


@pytest.mark.slow
def test_image_folder_of_24_trains_and_eval_says_how_to_evaluate(here: Path, cli,
                                                                 write_spec) -> None:
    image_module = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    for label, colour in (("cat", 0), ("dog", 1)):
        (here / "photos" / label).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 40, (40, 48, 3), dtype=np.uint8)
            pixels[..., colour] += 200
            image_module.fromarray(pixels).save(here / "photos" / label / f"{i}.png")
    (here / "photos" / "cat" / "notes.txt").write_text("not an image")
    write_spec(TINY.replace("[1, 12, 12]", "[3, 32, 32]"), "rgb.yaml")
    code, out, err = cli("train", "rgb.yaml", "--data", "imagefolder", "--data-dir", "photos",
                         "--epochs", "1", "--device", "cpu")
    assert code == 0, err
    assert err.splitlines()[1:] == [
        "note: skipped 1 file in photos that is not .png, .jpg or .jpeg (e.g. notes.txt)",
        "note: 24 of 24 images are resized to 32x32, the spec's input, as they are read",
        "note: batch size 24: the default 64 is more than the 24 training images"]
    assert "recipe: 1 epoch, batch 24," in out
    code, _, err = cli("eval", "rgb.yaml")
    assert code == 2
    assert err.splitlines()[-1] == (
        f"error: {here / 'photos'} has no held-out images (no val/ or test/ folder, and the "
        "run held none out): evaluate on the training images with --split train, or train "
        "again with --val-split 0.2 to hold some out")
    code, out, err = cli("eval", "rgb.yaml", "--split", "train")
    assert code == 0, err
    assert out.startswith("runs/tiny/best.pt: imagefolder train, 24 images")


# -- what a run prints -----------------------------------------------------------------------

def test_header_states_the_recipe_behind_the_numbers() -> None:
    options = resolve(cnncli.load("lenet5").train, {"epochs": 1})
    assert recipe_line(options) == (
        "recipe: 1 epoch, batch 256, sgd lr 0.15 momentum 0.9, weight decay 0,\n"
        "  schedule onecycle, no warm-up, label smoothing 0.1 (in the train loss only)")
    adam = resolve(None, {"optimizer": "adam", "warmup": 2.0, "weight_decay": 0.05})
    assert recipe_line(adam) == ("recipe: 10 epochs, batch 64, adam lr 0.01, weight decay "
                                 "0.05, schedule none,\n  warm-up 2 epochs, no label smoothing")


def test_epoch_rows_fit_80_columns() -> None:
    record = {"epoch": 100, "train_loss": 12.3456, "train_acc": 0.9876, "val_loss": 17.1,
              "val_acc": 1.0, "lr": 0.15, "images_per_s": 999_999.0, "seconds": 9999.9}
    row = epoch_row(record, 100, True)
    assert len(row) <= 79 and len(COLUMNS) <= 79
    assert row == "100/100     12.3456 0.9876   17.1000 1.0000  1.50e-01  999,999 9999.9s best"
    assert COLUMNS.index("val loss") + len("val loss") == row.index("17.1000") + len("17.1000")


@pytest.mark.slow
def test_a_run_prints_each_epoch_once_then_a_short_end(here: Path, cli, write_spec) -> None:
    write_spec(TINY, "tiny.yaml")
    code, out, err = cli("train", "tiny.yaml", "--data", "synthetic", "--epochs", "2",
                         "--device", "cpu", "--amp")
    assert code == 0, err
    assert err == "note: --amp applies to CUDA only; training in float32 here\n"
    lines = out.splitlines()
    assert lines[0] == ("training tiny on synthetic (1,638 images, validation: test split) "
                        "on cpu")
    assert lines[3] == COLUMNS and len(re.findall(r"^ +\d/2 ", out, re.M)) == 2
    assert re.fullmatch(r"done: 2 epochs in \d+\.\ds; best val acc \d\.\d{4} at epoch \d "
                        r"\(best\.pt\)", lines[6])
    assert lines[7] == "run folder: runs/tiny (best.pt, last.pt, metrics.csv, run.json)"
    assert "summary" not in out.lower()


def test_a_failed_download_is_one_line_then_the_fallback(monkeypatch, capsys) -> None:
    def offline(name: str, split: str, data_dir: str | None = None) -> None:
        raise DatasetUnavailable("cannot download mnist ...", Path.home() / ".cache/x/mnist",
                                 "offline")

    real = train_data.datasets.load
    monkeypatch.setattr(train_data.datasets, "load",
                        lambda name, split, data_dir=None: offline(name, split) if name ==
                        "mnist" else real(name, split))
    train, test = train_data._load_named("mnist", None, fallback=True)
    assert (len(train), len(test)) == (8000, 2000)
    assert capsys.readouterr().err == (
        "note: MNIST cannot be downloaded (offline) to ~/.cache/x/mnist\n"
        "note: training on mnist-sample: 10,000 MNIST digits shipped with cnncli\n")
    monkeypatch.setenv("RANK", "1")  # torchrun's other processes stay quiet
    train_data._load_named("mnist", None, fallback=True)
    assert capsys.readouterr().err == ""


def test_unknown_data_gets_a_did_you_mean_and_writes_nothing(here: Path, cli,
                                                            write_spec) -> None:
    code, out, err = cli("train", "lenet5", "--data", "minst")
    assert code == 2 and out == ""
    assert err == ("error: --data 'minst' is not one of mnist, fashion-mnist, kmnist, "
                   "cifar10, cifar100, mnist-sample, synthetic, shapes, imagefolder, "
                   "segfolder (did you mean "
                   "'mnist'?)\n")
    assert not (here / "runs").exists()
    write_spec(TINY + "train: {data: minst}\n", "typo.yaml")
    code, _, err = cli("train", "typo.yaml")
    assert code == 2 and err.startswith("error: the spec's train: data 'minst' is not one of ")
    assert err.endswith("(did you mean 'mnist'?)\n") and not (here / "runs").exists()


def test_train_help_states_every_default_and_every_dataset() -> None:
    from click.testing import CliRunner

    from cnncli.commands import cli as group
    from cnncli.commands.train import train

    text = CliRunner().invoke(group, ["train", "--help"]).output
    missing = [param.name for param in train.params if isinstance(param, click.Option)
               and "default" not in (param.help or "").lower()
               and param.name not in ("overrides", "input_shape", "force")]
    assert not missing, missing
    assert ", ".join(train_data.DATASETS) in " ".join(text.split())
    recipe = resolve(cnncli.load("lenet5").train, {})
    assert (f"lenet5's: {recipe.epochs} epochs, batch {recipe.batch_size}, sgd lr "
            f"{recipe.lr:g} momentum {recipe.momentum:g}, {recipe.schedule}, label smoothing "
            f"{recipe.label_smoothing:g}") in " ".join(text.split())


# -- Ctrl-C and resume ---------------------------------------------------------------------

@pytest.mark.slow
def test_ctrl_c_is_a_clean_line_and_resume_says_where(tmp_path: Path, write_spec,
                                                      cli) -> None:
    """Ctrl-C in a process of its own; the resume and the finished run's answer then in
    this one (what they print is the point, and the run folder is all they share)."""
    spec = write_spec(TINY)
    out = tmp_path / "run"
    base = [sys.executable, "-m", "cnncli", "train", spec, "--data", "synthetic",
            "--out", str(out), "--device", "cpu", "--batch-size", "8"]
    proc = subprocess.Popen([*base, "--epochs", "3"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (out / "run.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)  # wherever it is: the epoch is read from what it says
    stdout, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == 130, err
    said = err.splitlines()[-1]
    hint = f"cnncli train {re.escape(spec)} --resume {re.escape(str(out))}"
    match = re.fullmatch(rf"interrupted at epoch (\d), step (\d+) of 204; resume with: {hint}",
                         said)
    assert match, err
    epoch, step = int(match.group(1)), int(match.group(2))
    if step == 204:
        pytest.skip("the signal came at the last step of an epoch")
    assert torch.load(out / "last.pt", weights_only=True)["step"] == step
    code, resumed, err = cli(*base[3:], "--epochs", "3", "--resume", str(out))
    assert code == 0, err
    assert f"resuming {out} at epoch {epoch} of 3, step {step + 1} of 204\n" in resumed
    code, again, err = cli(*base[3:], "--epochs", "3", "--resume", str(out))
    assert code == 0, err
    first, second = again.splitlines()
    assert re.fullmatch(rf"{re.escape(str(out))} has finished its 3 epochs \(best val acc "
                        r"\d\.\d{4} at epoch \d\): nothing left to do", first)
    assert second == f"to train longer: cnncli train {spec} --resume {out} --epochs 13"


def _in_a_terminal(cwd: Path, args: list[str], interrupt: bool = False) -> tuple[int, str]:
    return in_terminal(args, 80, cwd, interrupt)


@pytest.mark.slow
def test_progress_and_epoch_rows_fit_an_80_column_terminal(tmp_path: Path,
                                                           write_spec) -> None:
    """No line passes 80 columns: not the bar's frames, not the epoch rows."""
    write_spec(TINY)  # in tmp_path, where the run starts: the paths it prints are short
    code, raw = _in_a_terminal(tmp_path, ["train", "spec.yaml", "--data", "synthetic",
                                          "--epochs", "2", "--out", "r", "--device", "cpu",
                                          "--batch-size", "16"])
    assert code == 0, raw
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw)
    shown = [piece for line in text.split("\n") for piece in line.split("\r")]
    assert any("━" in piece for piece in shown)  # the live bar was drawn
    assert max(len(piece) for piece in shown) <= 80, max(shown, key=len)
    for columns in (80, 120, 200):  # then eval's tables, in the same terminal sizes
        code, raw = in_terminal(["eval", "r"], columns, cwd=tmp_path)
        shown = screen(raw)
        assert code == 0, shown
        assert "Confusion matrix" in shown and "accuracy" in shown
        assert max(map(len, shown.splitlines())) <= columns
        assert not re.search(r"[0-9,.]…|…[0-9]", shown)


@pytest.mark.slow
def test_ctrl_c_clears_the_bar_before_its_line(tmp_path: Path, write_spec) -> None:
    write_spec(TINY)
    code, raw = _in_a_terminal(tmp_path, ["train", "spec.yaml", "--data", "synthetic",
                                          "--epochs", "3", "--out", "r", "--device", "cpu",
                                          "--batch-size", "4"], interrupt=True)
    if code == 0:
        pytest.skip("the run finished before the signal arrived")
    assert code == 130, raw
    # the bar's line is erased (ESC[2K) and the message starts on its own, then ends the run
    said = re.search(r"\x1b\[2K(interrupted at epoch 1, step \d+ of 409; resume with: cnncli "
                     r"train spec\.yaml --resume r)\r\n$", raw)
    assert said, raw[-400:]
