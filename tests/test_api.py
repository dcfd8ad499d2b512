"""The library's face: docs/api.md's examples run as written, signatures are real, an
Analysis reads in one line, models print their wiring and index like torchvision's, and
library calls give notes as warnings while the CLI prints them as before."""

from __future__ import annotations

import inspect
import re
import warnings
from pathlib import Path

import pytest

import cnncli
from cnncli.errors import CnncliNote

DOC = Path(__file__).parent.parent / "docs" / "api.md"


def examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


@pytest.mark.parametrize("number", range(len(examples())))
def test_the_docs_examples_run(number: int, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CNNCLI_DATA", str(tmp_path / "data"))
    exec(compile(examples()[number], f"docs/api.md example {number + 1}", "exec"), {})


def test_the_docs_have_examples_of_every_function() -> None:
    text = "".join(examples())
    for name in ("analyze", "build", "verify", "export", "train", "load"):
        assert f"cnncli.{name}(" in text


@pytest.mark.parametrize("name", ["analyze", "build", "verify", "export", "train", "load"])
def test_every_function_has_a_real_signature(name: str) -> None:
    function = getattr(cnncli, name)
    parameters = inspect.signature(function).parameters.values()
    assert function.__doc__
    assert not [p for p in parameters if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    assert all(p.annotation is not inspect.Parameter.empty for p in parameters)


def test_an_analysis_reads_in_one_line() -> None:
    a = cnncli.analyze("resnet50")
    assert repr(a) == ("<Analysis resnet50: input 3x224x224, output 1000, 25,557,032 params, "
                       "4,089,184,256 MACs>")
    assert repr(cnncli.analyze("lenet5", batch=4)).endswith(", batch 4>")


def test_the_table_is_the_summary_commands(cli) -> None:
    code, out, _ = cli("summary", "lenet5")
    assert code == 0 and cnncli.analyze("lenet5").table() == out
    narrow = cnncli.analyze("resnet18").table(width=60)
    assert max(len(line) for line in narrow.splitlines()) <= 60
    assert len(cnncli.analyze("resnet18").table(depth=1).splitlines()) < 40


def test_a_residual_block_prints_its_wiring_and_indexes_like_torchvision() -> None:
    model = cnncli.build("resnet18", device="meta")
    block = model.layer2[0]
    assert block is model.layer2.get_submodule("0")
    assert model.layer4[-1] is model.layer4.get_submodule("1")
    text = repr(block)
    assert text.splitlines()[1] == ("  wiring: add(body: conv1 -> bn1 -> relu1 -> conv2 -> bn2, "
                                    "shortcut: downsample) -> relu")
    assert "wiring" not in repr(model.layer2).splitlines()[1]  # a plain sequence says nothing
    with pytest.raises(TypeError, match="indexed by name, not position: conv1, bn1"):
        block[0]
    assert "layer2.0.downsample.0.weight" in model.state_dict()


def test_a_concat_and_a_gate_print_their_wiring(write_spec) -> None:
    spec = write_spec("""
        name: wired
        input: [3, 8, 8]
        layers:
          - concat:
              branches:
                - [conv: {out: 4, kernel: 1}]
                - [conv: {out: 2, kernel: 3, padding: 1}]
          - gate:
              layers: [conv: {out: 6, kernel: 1}, sigmoid]
    """)
    text = repr(cnncli.build(spec, device="meta"))
    assert re.search(r"wiring: concat\(\S+ \| \S+\)", text)
    assert re.search(r"wiring: multiply\(x, gate: \S+ -> \S+\)", text)


def test_library_calls_print_nothing_and_warn_instead(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.warns(CnncliNote, match="no ./alexnet.yaml here; using the zoo's alexnet"):
        network = cnncli.load("alexnet.yaml")
    assert network.name == "alexnet"
    assert capsys.readouterr() == ("", "")


def test_the_cli_still_prints_the_note_and_is_not_a_warning(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a note that escaped as a warning would raise
        code, _, err = cli("check", "alexnet.yaml")
    assert code == 0
    assert err == ("note: no ./alexnet.yaml here; using the zoo's alexnet (cnncli spec "
                   "alexnet -o alexnet.yaml copies it here)\n")


@pytest.mark.slow
def test_train_returns_the_run_and_prints_nothing(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.warns(CnncliNote, match=r"lr 0.075 = the recipe's 0.15 x 128/256"):
        run = cnncli.train("lenet5", data="synthetic", epochs=1, batch_size=128, out="run",
                           options=cnncli.TrainOptions(schedule="none"))
    assert run.folder == Path("run") and run.best == Path("run/best.pt")
    assert [r["epoch"] for r in run.epochs] == [1]
    assert run.best_epoch == 1 and run.best_acc == run.epochs[0]["val_acc"]
    assert capsys.readouterr().out == ""
    again = cnncli.train("lenet5", resume="run", epochs=2)
    assert [r["epoch"] for r in again.epochs] == [1, 2]
