"""Training end to end on data the tests make: tiny IDX files and synthetic images.
Resume equivalence, checkpoints, eval, predict, refusals."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import free_port

import cnncli
from cnncli.model import checkpoint, rebuild

TINY = """
name: tiny
input: [1, 12, 12]
params: {classes: 4}
layers:
  - conv: {out: 4, kernel: 3, padding: 1}
  - batchnorm
  - relu
  - maxpool: {kernel: 2}
  - dropout: {p: 0.2}
  - flatten
  - linear: {out: classes}
"""


def test_train_lenet_on_idx_then_eval_predict_export(digits: Path, tmp_path: Path, cli) -> None:
    out = tmp_path / "run"
    code, stdout, err = cli("train", "lenet5", "--data-dir", str(digits), "--epochs", "3",
                            "--out", str(out), "--device", "cpu")
    assert code == 0, err
    assert re.search(r"^ +3/3 +\d\.\d{4} ", stdout, re.M)  # the third epoch's row
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert history[-1]["val_acc"] > 0.9  # the blocks are easy to learn
    assert (out / "metrics.csv").read_text().splitlines()[0].startswith("epoch,train_loss")
    for name in ("last.pt", "best.pt", "run.json", "spec.yaml"):
        assert (out / name).is_file(), name
    assert not (out / ".lock").exists()
    state = checkpoint.load(out / "last.pt")
    assert state["epoch"] == 3 and state["data"]["fit"] == "pad"
    assert len(state["data"]["mean"]) == 1

    code, stdout, err = cli("eval", str(out / "best.pt"), "--data-dir", str(digits),
                            "-f", "json")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["count"] == 200
    assert result["accuracy"] == pytest.approx(max(r["val_acc"] for r in history), abs=1e-6)
    assert np.array(result["confusion"]).sum() == 200

    sample = tmp_path / "digit.npy"
    image = np.zeros((28, 28), np.uint8)
    image[14:22, 7:11] = 240  # class 6's block (row 1, column 1)
    np.save(sample, image)
    code, stdout, err = cli("predict", str(out / "best.pt"), str(sample), "--top", "3",
                            "-f", "json")
    assert code == 0, err
    (prediction,) = json.loads(stdout)
    assert prediction["top"][0]["class"] == "6"
    assert len(prediction["top"]) == 3

    target = tmp_path / "lenet.pt"
    code, stdout, err = cli("export", str(out / "best.pt"), "-f", "torchscript", "-o",
                            str(target))
    assert code == 0, err


def assert_same_weights(a: dict, b: dict) -> None:
    """Two checkpoints hold bit-identical model tensors."""
    assert a["model"].keys() == b["model"].keys()
    for key, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][key]), key


def _args(spec: str, out: Path, epochs: int, *extra: str) -> list[str]:
    return ["train", spec, "--data", "synthetic", "--epochs", str(epochs), "--out", str(out),
            "--device", "cpu", "--batch-size", "32", "--seed", "3", *extra]


def _train(spec: str, out: Path, epochs: int, *extra: str) -> subprocess.CompletedProcess:
    """The run in a process of its own, as a user starts it (a resume then has nothing but
    the checkpoint to go on)."""
    return subprocess.run([sys.executable, "-m", "cnncli", *_args(spec, out, epochs, *extra)],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_resume_gives_the_same_weights(tmp_path: Path, write_spec, cli) -> None:
    """The uninterrupted run and the first two epochs run in this process; the resume in a
    fresh one, which has only last.pt to go on."""
    spec = write_spec(TINY)
    code, _, err = cli(*_args(spec, tmp_path / "a", 4, "--optimizer", "adam", "--lr", "0.01"))
    assert code == 0, err
    code, _, err = cli(*_args(spec, tmp_path / "b", 2, "--optimizer", "adam", "--lr", "0.01"))
    assert code == 0, err
    resumed = _train(spec, tmp_path / "b", 4, "--resume", str(tmp_path / "b" / "last.pt"))
    assert resumed.returncode == 0, resumed.stderr
    a = checkpoint.load(tmp_path / "a" / "last.pt")
    b = checkpoint.load(tmp_path / "b" / "last.pt")
    assert_same_weights(a, b)
    assert a["history"][-1]["train_loss"] == b["history"][-1]["train_loss"]
    assert b["spec"] == a["spec"]  # a resumed run's checkpoints carry the same spec
    rebuild.model_from(b, tmp_path / "b" / "last.pt")


@pytest.mark.slow
def test_sigint_saves_and_resume_continues_exactly(tmp_path: Path, write_spec, cli) -> None:
    """Interrupt mid-run (any step), resume, and land on the uninterrupted run's weights. The
    interrupted run is a process of its own (the signal); the uninterrupted run and the
    resume, which reads only the checkpoint the signal left, run in this one (a resume in a
    fresh process: test_resume_gives_the_same_weights)."""
    spec = write_spec(TINY)
    args = ["--schedule", "cosine", "--lr", "0.05", "--augment", "flip"]
    code, _, err = cli(*_args(spec, tmp_path / "a", 3, *args))
    assert code == 0, err
    cmd = [sys.executable, "-m", "cnncli", *_args(spec, tmp_path / "b", 3, *args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (tmp_path / "b" / "last.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == 130, err
    # mid-epoch, or (when the signal lands during validation) after the epoch
    assert re.search(r"^interrupted (at epoch \d, step \d+ of \d+|after epoch \d of 3); "
                     r"resume with: cnncli train \S+ --resume \S+$", err, re.M), err
    assert "Traceback" not in err
    code, _, err = cli(*_args(spec, tmp_path / "b", 3, "--resume",
                              str(tmp_path / "b" / "last.pt")))
    assert code == 0, err
    a = checkpoint.load(tmp_path / "a" / "last.pt")
    b = checkpoint.load(tmp_path / "b" / "last.pt")
    assert_same_weights(a, b)


@pytest.mark.slow
def test_refusals(tmp_path: Path, write_spec, cli, digits: Path) -> None:
    spec = write_spec(TINY)
    out = tmp_path / "run"
    assert cli(*_args(spec, out, 1))[0] == 0
    code, _, err = cli("train", spec, "--data", "synthetic", "--out", str(out), "--epochs", "1")
    assert code == 2 and "already holds a run" in err
    (out / ".lock").write_text(str(os.getpid()))  # a live process holds the folder
    code, _, err = cli("train", spec, "--data", "synthetic", "--out", str(out), "--force",
                       "--epochs", "1")
    assert code == 2 and f"another run (pid {os.getpid()})" in err
    (out / ".lock").unlink()
    code, _, err = cli("train", "lenet5", "--resume", str(out / "last.pt"), "--data-dir",
                       str(digits))
    assert code == 2 and "is a run of tiny, not lenet5" in err and "Traceback" not in err
    code, _, err = cli("train", spec, "--resume", str(out / "last.pt"), "--set", "classes=3")
    assert code == 2 and "do not apply with --resume" in err
    Path(spec).write_text(Path(spec).read_text().replace("out: 4", "out: 6"))  # edited since
    code, _, err = cli("train", spec, "--resume", str(out / "last.pt"))
    assert code == 2 and "changed since" in err
    assert "made for another shape: 0.weight is (4, 1, 3, 3) there but (6, 1, 3, 3)" in err
    code, _, err = cli("train", "resnet18", "--data", "mnist", "--data-dir", str(digits),
                       "--fit", "pad", "--input", "3x32x32", "--set", "classes=7", "--out",
                       str(tmp_path / "r"))
    assert code == 2
    assert "--set classes=7 but mnist has 10 classes; drop --set classes" in err
    fixed = write_spec(TINY.replace("params: {classes: 4}\n", "").replace("out: classes",
                                                                          "out: 7"))
    code, _, err = cli("train", fixed, "--data", "mnist", "--data-dir", str(digits), "--out",
                       str(tmp_path / "r"))
    assert code == 2 and "tiny has 7 outputs but mnist has 10 classes; give the spec a " \
        "`classes` parameter" in err
    code, _, err = cli("train", spec, "--data", "synthetic", "--lr", "-1")
    assert code == 2 and "--lr" in err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    code, _, err = cli("eval", str(bad))
    assert code == 2 and "not a readable checkpoint" in err


def test_classes_follow_the_data(tmp_path: Path, write_spec, cli, digits: Path) -> None:
    spec = write_spec(TINY)  # classes: 4 by default; the digits have 10
    out = tmp_path / "run"
    code, stdout, err = cli("train", spec, "--data", "mnist", "--data-dir", str(digits), "--fit",
                            "resize", "--epochs", "1", "--out", str(out))
    assert code == 0, err
    assert err.splitlines()[0] == "note: classes=10 from mnist"
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["model"]["6.weight"].shape[0] == 10
    code, stdout, err = cli("eval", str(out / "last.pt"))
    assert code == 0 and "per class" in stdout.lower()


def test_size_mismatch_names_input_when_the_network_takes_any_size(
        tmp_path: Path, write_spec, cli, digits: Path) -> None:
    pooled = write_spec(TINY.replace("  - flatten\n", "  - global_avgpool\n  - flatten\n")
                        .replace("params: {classes: 4}", "params: {classes: 10}"))
    code, _, err = cli("train", pooled, "--data", "mnist", "--data-dir", str(digits),
                       "--out", str(tmp_path / "a"))
    assert code == 2
    assert ("the images are 1x28x28 but the spec takes 1x12x12; pass --fit pad, resize or crop "
            "to adapt them, or --input 1x28x28 to train at the data's size") in err
    flat = write_spec(TINY.replace("params: {classes: 4}", "params: {classes: 10}"), "flat.yaml")
    code, _, err = cli("train", flat, "--data", "mnist", "--data-dir", str(digits),
                       "--out", str(tmp_path / "b"))
    assert code == 2 and "--fit pad, resize or crop to adapt them" in err
    assert "--input" not in err  # its linear layer fixes the size


def test_hostile_checkpoint_is_refused_and_runs_nothing(tmp_path: Path, cli) -> None:
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "cnncli.checkpoint/1", "model": Exploit()}, path)
    code, _, err = cli("eval", str(path))
    assert code == 2
    assert "asks to load posix.system, which could run code" in err
    assert not marker.exists()


@pytest.mark.slow
def test_nan_loss_stops_with_epoch_and_step(tmp_path: Path, write_spec, cli) -> None:
    spec = write_spec("""
        name: mlp
        input: [1, 12, 12]
        params: {classes: 4}
        layers: [flatten, {linear: {out: 16}}, relu, {linear: {out: classes}}]
        """)
    code, _, err = cli(*_args(spec, tmp_path / "nan", 2, "--lr", "1e30", "--optimizer", "sgd"))
    assert code == 1
    assert "the loss became" in err and "epoch 1, step" in err and "Traceback" not in err


@pytest.mark.slow
def test_build_from_checkpoint_matches(tmp_path: Path, write_spec, cli) -> None:
    spec = write_spec(TINY)
    assert cli(*_args(spec, tmp_path / "r", 1))[0] == 0
    state = checkpoint.load(tmp_path / "r" / "best.pt")
    model, network = rebuild.model_from(state, tmp_path / "r" / "best.pt")
    assert network.name == "tiny"
    assert sum(p.numel() for p in model.parameters()) == cnncli.analyze(spec).totals()["params"]


@pytest.mark.slow
def test_two_process_gloo_run(tmp_path: Path, write_spec) -> None:
    """torchrun with 2 CPU processes: DDP over gloo, one writer, metrics over both shards."""
    spec = write_spec(TINY)
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--nproc_per_node", "2", "--master_port", str(free_port()),
           "-m", "cnncli", "train", spec, "--data", "synthetic", "--epochs", "2", "--out", str(out),
           "--device", "cpu", "--batch-size", "32"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=240,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("training tiny") == 1  # only rank 0 speaks
    assert "x 2 processes" in run.stdout
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(history) == 2
    state = checkpoint.load(out / "last.pt")
    assert state["world"] == 2 and state["epoch"] == 2
    # 1,638 training images: 819 per process, 25 steps of 32 each, both processes counted
    assert history[0]["images_per_s"] > 0


SMALL_RGB = """
name: small
input: [3, 32, 32]
params: {classes: 10}
layers:
  - conv: {out: 4, kernel: 3, stride: 2, padding: 1}
  - relu
  - global_avgpool
  - flatten
  - linear: {out: classes}
"""


def test_train_on_cifar_format_files(tmp_path: Path, write_spec, cli) -> None:
    from test_data import write_cifar10

    write_cifar10(tmp_path / "cifar" / "cifar-10-batches-py", per_batch=20)
    spec = write_spec(SMALL_RGB)
    out = tmp_path / "run"
    code, stdout, err = cli("train", spec, "--data", "cifar10", "--data-dir",
                            str(tmp_path / "cifar"), "--epochs", "1", "--batch-size", "10",
                            "--augment", "crop", "--augment", "flip", "--out", str(out),
                            "--device", "cpu")
    assert code == 0, err
    assert "training small on cifar10 (100 images, validation: test split)" in stdout
    state = checkpoint.load(out / "last.pt")
    assert state["data"]["classes"][:2] == ["airplane", "automobile"]
    assert len(state["data"]["mean"]) == 3
    assert state["options"]["augment"] == ["crop", "flip"]


@pytest.mark.slow
def test_train_on_an_image_folder(tmp_path: Path, write_spec, cli) -> None:
    image_module = pytest.importorskip("PIL.Image")
    root = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for label, colour in (("cat", 0), ("dog", 1)):
        (root / label).mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 40, (40, 48, 3), dtype=np.uint8)
            pixels[..., colour] += 200
            image_module.fromarray(pixels).save(root / label / f"{i}.png")
    spec = write_spec(SMALL_RGB)  # classes: 10; the folder has 2, and the network follows
    out = tmp_path / "run"
    code, stdout, err = cli("train", spec, "--data", "imagefolder", "--data-dir", str(root),
                            "--val-split", "0.25", "--epochs", "2", "--batch-size", "6",
                            "--lr", "0.1", "--out", str(out), "--device", "cpu")
    assert code == 0, err
    assert f"note: classes=2 from the image folder ({root}: 2 class folders)" in err
    assert "validation: 25% of train" in stdout
    state = checkpoint.load(out / "best.pt")
    assert state["data"]["classes"] == ["cat", "dog"]
    code, stdout, err = cli("predict", str(out / "best.pt"), str(root / "dog" / "0.png"),
                            "--top", "2")
    assert code == 0, err
    assert stdout.startswith(f"{root / 'dog' / '0.png'}: ")


@pytest.mark.slow
def test_sigkill_at_random_points_never_loses_the_run(tmp_path: Path, write_spec,
                                                      cli) -> None:
    """Kill -9 at random moments (tiny epochs: much of the time goes to writing checkpoints);
    last.pt always loads, --resume takes over the stale lock, and the final weights equal
    an uninterrupted run's. The killed runs are processes of their own; the uninterrupted
    run and the last resume (of the lock and last.pt the last kill left) run in this one."""
    import random

    spec = write_spec(TINY)
    args = ["--batch-size", "256", "--lr", "0.05"]
    code, _, err = cli(*_args(spec, tmp_path / "a", 12, *args))
    assert code == 0, err
    out = tmp_path / "b"
    rng = random.Random(7)
    cmd = [sys.executable, "-m", "cnncli", *_args(spec, out, 12, *args)]
    resume: list[str] = []
    for _ in range(4):
        proc = subprocess.Popen(cmd + resume, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while not (out / "last.pt").exists() and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.6))
        proc.kill()
        proc.wait(timeout=30)
        state = checkpoint.load(out / "last.pt")  # loadable whatever the moment
        assert 1 <= state["epoch"] <= 12
        resume = ["--resume", str(out / "last.pt")]
    code, _, err = cli(*cmd[3:], *resume)
    assert code == 0, err
    a = checkpoint.load(tmp_path / "a" / "last.pt")
    b = checkpoint.load(out / "last.pt")
    assert b["epoch"] == 12
    assert_same_weights(a, b)


def test_no_network_names_the_files_and_folder(tmp_path: Path, cli, monkeypatch) -> None:
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setenv("CNNCLI_DATA", str(tmp_path / "cache"))
    # --data mnist said outright: no stand-in (the spec's default alone falls back to the
    # shipped sample, tests/commands/test_first_run.py)
    code, _, err = cli("train", "lenet5", "--data", "mnist", "--epochs", "1", "--out",
                       str(tmp_path / "run"))
    assert code == 2 and "Traceback" not in err
    assert "train-images-idx3-ubyte.gz" in err and str(tmp_path / "cache" / "mnist") in err
    assert "--data-dir" in err
    assert not any((tmp_path / "cache").rglob("*.gz"))  # nothing half-written in the cache


def test_truncated_dataset_file(digits: Path, tmp_path: Path, cli) -> None:
    images = digits / "train-images-idx3-ubyte.gz"
    with gzip.open(images, "rb") as f:
        raw = f.read()
    with gzip.open(images, "wb") as f:
        f.write(raw[: len(raw) // 2])
    code, _, err = cli("train", "lenet5", "--data-dir", str(digits), "--epochs", "1", "--out",
                       str(tmp_path / "run"))
    assert code == 2 and "Traceback" not in err
    assert "train-images-idx3-ubyte.gz" in err and "truncated" in err


def test_full_disk_is_refused_before_training(tmp_path: Path, cli, monkeypatch,
                                              write_spec) -> None:
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9, 4096))
    code, _, err = cli("train", write_spec(TINY), "--data", "synthetic", "--epochs", "1",
                       "--out", str(tmp_path / "run"))
    assert code == 2
    assert "MiB free but this run's checkpoints need" in err
    assert not (tmp_path / "run" / "last.pt").exists()
    assert not (tmp_path / "run" / ".lock").exists()


@pytest.mark.slow
def test_second_ctrl_c_exits_at_once(tmp_path: Path, write_spec) -> None:
    spec = write_spec(TINY)
    cmd = [sys.executable, "-m", "cnncli", "train", spec, "--data", "synthetic", "--epochs",
           "50", "--out", str(tmp_path / "run"), "--device", "cpu", "--batch-size", "8"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (tmp_path / "run" / "run.json").exists() and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err
