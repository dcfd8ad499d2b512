"""The three commands cnncli was asked for, typed exactly as a new user types them: from an
empty folder, with an empty HOME and data cache, and no network. Only the epochs are fewer
than the README's 10 (bench/bench_first_run.py runs the full 10 and checks the accuracy)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TESTS

OFFLINE_SITE = TESTS / "offline_site"


@pytest.fixture()
def new_user(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run `cnncli ARGS` in an empty folder, offline, with an empty home."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNNCLI_")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
               PYTHONPATH=str(OFFLINE_SITE), COLUMNS="120")

    def run(command: str) -> subprocess.CompletedProcess[str]:
        args = command.split()
        assert args[0] == "cnncli"
        return subprocess.run([sys.executable, "-m", "cnncli", *args[1:]], cwd=work, env=env,
                              capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL)

    run.work = work  # type: ignore[attr-defined]
    return run


def test_the_network_really_is_blocked(new_user) -> None:  # type: ignore[no-untyped-def]
    probe = subprocess.run(
        [sys.executable, "-c", "import socket; socket.getaddrinfo('example.org', 443)"],
        env={**os.environ, "PYTHONPATH": str(OFFLINE_SITE)}, capture_output=True, text=True)
    assert probe.returncode != 0
    assert "socket.gaierror: [Errno -2] Name or service not known" in probe.stderr


def test_summary_alexnet_yaml(new_user) -> None:  # type: ignore[no-untyped-def]
    run = new_user("cnncli summary alexnet.yaml")
    assert run.returncode == 0, run.stderr
    note = run.stderr.strip().splitlines()
    assert len(note) == 1 and note[0].startswith("note: no ./alexnet.yaml here; using the "
                                                 "zoo's alexnet (")
    assert note[0].endswith("(cnncli spec alexnet -o alexnet.yaml copies it here)")
    assert re.search(r"^ conv1\s+conv\s+96x55x55\s+34,944\s+105,415,200 ", run.stdout, re.M)
    assert "Params              60,965,224 (60.97 M)" in run.stdout
    assert "MACs                724,406,816 (724.41 M)" in run.stdout
    assert not any(line.endswith(" ") for line in run.stdout.splitlines())


def test_flops_googlenet(new_user) -> None:  # type: ignore[no-untyped-def]
    run = new_user("cnncli flops googlenet")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert run.stdout.startswith("googlenet: cost breakdown — By layer (depth 2)")
    assert "MACs                1,582,671,872 (1.58 G)" in run.stdout
    assert re.search(r"^ inception4e.branch2\s+branch\s+320x14x14\s+106,874,880\s", run.stdout,
                     re.M)
    assert "—" in run.stdout and not re.search(r"^ \S+\s+relu\s+\S+\s+0 ", run.stdout, re.M)


@pytest.mark.slow
def test_train_lenet(new_user) -> None:  # type: ignore[no-untyped-def]
    """The README's path: train by alias, then eval and predict by the network's name and by
    its run folder, a digit written as MNIST has it and one in dark ink on white paper."""
    run = new_user("cnncli train lenet --epochs 2")
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines() == [  # one line for the failed download, one for the fallback
        "note: MNIST cannot be downloaded (offline) to ~/.cache/cnncli/datasets/mnist",
        "note: training on mnist-sample: 10,000 MNIST digits shipped with cnncli"]
    out = run.stdout.splitlines()
    assert out[:3] == [
        "training lenet5 on mnist-sample (8,000 images, validation: test split) on cpu",
        "recipe: 2 epochs, batch 256, sgd lr 0.15 momentum 0.9, weight decay 0,",
        "  schedule onecycle, no warm-up, label smoothing 0.1 (in the train loss only)"]
    accuracies = [float(a) for a in re.findall(r"^ +\d/2 +\S+ \S+ +\S+ (\S+)", run.stdout, re.M)]
    assert len(accuracies) == 2 and accuracies[-1] >= 0.95
    assert out[-2:] == ["next: cnncli eval lenet5", "      cnncli predict lenet5 IMAGE"]
    assert max(len(line) for line in out) <= 79
    runs = new_user.work / "runs" / "lenet5"
    assert {"best.pt", "last.pt", "run.json"} <= {p.name for p in runs.iterdir()}
    for ref, note in (("lenet5", "note: using runs/lenet5/best.pt (best epoch of lenet5's "
                                 "newest run)"),
                      ("runs/lenet5", "note: using runs/lenet5/best.pt (best epoch)"),
                      ("runs/lenet5/best.pt", None)):
        evaluated = new_user(f"cnncli eval {ref}")
        assert evaluated.returncode == 0, evaluated.stderr
        assert evaluated.stderr.splitlines() == ([note] if note else [])
        assert evaluated.stdout.startswith("runs/lenet5/best.pt: mnist-sample test split, "
                                           "2,000 images")
    from PIL import Image

    from cnncli.train import datasets

    digits = datasets.load("mnist-sample", "test")
    Image.fromarray(digits.images[0, 0].numpy()).save(new_user.work / "digit.png")
    Image.fromarray(255 - digits.images[0, 0].numpy()).save(new_user.work / "ink.png")
    predicted = new_user("cnncli predict lenet5 digit.png ink.png")
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout.startswith(f"digit.png: {digits.labels[0].item()} ")
    assert predicted.stderr.splitlines()[1] == (
        "note: ink.png is dark on light, the opposite of the training images (MNIST: white on "
        "black); try --invert")
    inverted = new_user("cnncli predict lenet5 ink.png --invert")
    assert inverted.stdout.startswith(f"ink.png: {digits.labels[0].item()} ")
