"""Mistakes a newcomer makes in the first minutes, each caught with one clear sentence:
axes in the wrong order, an edited ejected spec, a family file without a variant, bare
`cnncli`."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

import cnncli
from cnncli.spec.zoo import zoo_dir

# -- --input in height x width x channels ---------------------------------------------------

def test_input_with_channels_last_gets_a_did_you_mean(cli) -> None:
    code, out, err = cli("summary", "resnet18", "--input", "224x224x3")
    assert (code, out) == (2, "")
    assert err == ("error: --input 224x224x3: the last size is the spec's 3 input channels; "
                   "did you mean 3x224x224? (--input is channels x height x width)\n")


@pytest.mark.parametrize("shape", ["3x64x64", "3x3x3", "1x64x64"])
def test_input_in_channel_order_is_taken(cli, shape: str) -> None:
    """Only a last axis equal to the channels with a first axis that is not is refused."""
    code, out, err = cli("check", "resnet18", "--input", shape)
    assert (code, err) == (0, ""), err


# -- an ejected spec stands alone, and an edit takes effect -----------------------------------

@pytest.mark.parametrize("name", ["resnet50", "vgg16_bn", "efficientnet_b3", "densenet121",
                                  "mobilenet_v3_small", "lenet5_paper", "resnext50_32x4d"])
def test_ejected_variant_gives_the_zoos_figures(cli, tmp_path: Path, name: str) -> None:
    target = tmp_path / "mine.yaml"
    assert cli("spec", name, "-o", str(target))[0] == 0
    text = target.read_text()
    assert "variants:" not in text and "\nvariant:" not in text
    zoo, mine = cnncli.analyze(name), cnncli.analyze(str(target))
    assert mine.totals() == zoo.totals()
    assert [(r.path, r.output, r.macs) for r in mine.root.walk()] == \
        [(r.path, r.output, r.macs) for r in zoo.root.walk()]
    assert (mine.network.name, mine.network.params) == (name, zoo.network.params)
    assert mine.network.torchvision == zoo.network.torchvision
    assert mine.network.train == zoo.network.train


def test_an_edit_to_an_ejected_spec_takes_effect(cli, tmp_path: Path) -> None:
    target = tmp_path / "my_resnet.yaml"
    assert cli("spec", "resnet18", "-o", str(target))[0] == 0
    text = target.read_text()
    assert "  depths: [2, 2, 2, 2]\n" in text
    target.write_text(text.replace("  depths: [2, 2, 2, 2]\n", "  depths: [1, 1, 1, 1]\n"))
    code, out, err = cli("check", str(target))
    assert (code, err) == (0, "")
    assert "5,418,792 params" in out  # as resnet18 --set depths=[1,1,1,1]; resnet18: 11.7 M


def test_a_variant_line_overriding_a_top_level_value_warns(cli, tmp_path: Path) -> None:
    text = (zoo_dir() / "resnet.yaml").read_text()
    hand = tmp_path / "hand.yaml"
    hand.write_text("variant: resnet18\n" + text)
    code, out, err = cli("check", str(hand))
    assert code == 0 and "11,689,512 params" in out
    lines = hand.read_text().splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("  depths:")) + 1
    own = next(i for i, line in enumerate(lines) if "resnet18:" in line) + 3
    assert err.splitlines()[1] == (
        f"warning: {hand}:{top}:3: depths [3, 4, 6, 3] is overridden by variant resnet18's "
        f"[2, 2, 2, 2] (at {hand}:{own}:41), as `variant: resnet18` selects it; edit that "
        "value, or remove the `variant:` line")


# -- a family file asks which member -----------------------------------------------------

def test_family_file_without_a_variant_asks_which(cli, tmp_path: Path, monkeypatch) -> None:
    path = str(zoo_dir() / "resnet.yaml")
    code, out, err = cli("summary", path)
    assert (code, out) == (2, "")
    assert err == (f"error: {path!r} could be any of resnet18, resnet34, resnet50, resnet101, "
                   "resnet152, resnext50_32x4d, resnext101_32x8d, resnext101_64x4d, "
                   f"wide_resnet50_2, wide_resnet101_2; name one of them as {path}:resnet18\n")
    assert cli("check", f"{path}:resnet50")[0] == 0
    monkeypatch.chdir(tmp_path)  # the zoo's file named by its file name alone
    code, _, err = cli("summary", "resnet.yaml")
    assert code == 2 and err.splitlines()[-1].startswith("error: 'resnet.yaml' could be any of "
                                                         "resnet18, resnet34")
    assert err.endswith("name one of them as resnet.yaml:resnet18\n")


def test_family_file_with_one_variant_uses_it(cli, write_spec) -> None:
    path = write_spec("""
        name: fam
        input: [1, 8, 8]
        params: {width: 4}
        layers: [{conv: {out: width, kernel: 3}}]
        variants:
          wide: {params: {width: 8}}
    """)
    code, out, err = cli("check", path)
    assert (code, err) == (0, "")
    assert out.startswith(f"ok  {path}: wide, input 1x8x8, output 8x6x6, 80 params")


# -- bare cnncli -------------------------------------------------------------------------

def test_bare_cnncli_prints_the_help(cli) -> None:
    code, out, err = cli()
    assert (code, err) == (0, "")
    assert out.startswith("Usage: cnncli [OPTIONS] COMMAND [ARGS]...\n")
    assert "  summary " in out and "Commands:" in out


# -- one overwrite policy ------------------------------------------------------------------

def _run_folder(tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "lenet5"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text(
        '{"epoch": 1, "train_loss": 0.9, "val_loss": 0.5, "train_acc": 0.7, "val_acc": 0.8}\n')
    return run


@pytest.mark.parametrize("name,args", [
    ("mine.yaml", ["spec", "lenet5", "-o", "{}"]),
    ("net.pt2", ["export", "lenet5", "-o", "{}"]),
    ("net.svg", ["diagram", "lenet5", "-o", "{}"]),
    ("net.html", ["diagram", "lenet5", "-o", "{}"]),
    ("cmp.png", ["compare", "lenet5", "alexnet", "--plot", "{}"]),
    ("sweep.png", ["compare", "lenet5", "--sweep", "classes=10,100", "--plot", "{}"]),
    ("curves.png", ["plot", "{run}", "-o", "{}"]),
])
def test_an_existing_file_needs_force(cli, tmp_path: Path, name: str, args: list[str]) -> None:
    run = _run_folder(tmp_path)
    target = tmp_path / name
    target.write_text("keep me")
    argv = [a.format(target, run=run) for a in args]
    code, out, err = cli(*argv)
    assert (code, out, err) == (2, "", f"error: {target} exists; pass --force to overwrite it\n")
    assert target.read_text() == "keep me"
    if args[0] in ("diagram", "plot", "spec"):  # quick to write: --force does
        code, _, err = cli(*argv, "--force")
        assert code == 0, err
        assert target.read_bytes() != b"keep me"
        assert sorted(p.name for p in target.parent.iterdir() if p.name.startswith(".")) == []


def test_plot_redraws_the_runs_own_curves(cli, tmp_path: Path) -> None:
    """RUN/curves.png is the run's own picture (training draws it): plot redraws it."""
    run = _run_folder(tmp_path)
    (run / "curves.png").write_text("an older drawing")
    code, out, err = cli("plot", str(run))
    assert (code, err) == (0, "") and out == f"wrote {run / 'curves.png'}\n"
    assert (run / "curves.png").read_bytes().startswith(b"\x89PNG")


# -- formats from file extensions ------------------------------------------------------------

@pytest.mark.parametrize("fmt,name,words", [
    ("pt2", "x.onnx", "--format pt2 does not match -o {dir}/x.onnx, which names a onnx file: "
                      "leave out --format, or name the file {dir}/x.pt2"),
    ("onnx", "x.pt", "--format onnx does not match -o {dir}/x.pt, which names a torchscript "
                     "file: leave out --format, or name the file {dir}/x.onnx"),
    (None, "x.bin", "-o {dir}/x.bin: cannot tell the format from the file name; pass --format "
                    "pt2, onnx or torchscript, or name the file .pt2 (pt2), .onnx (onnx), .pt "
                    "(torchscript)"),
])
def test_export_format_and_extension_must_agree(cli, tmp_path: Path, fmt: str | None,
                                                name: str, words: str) -> None:
    code, out, err = cli("export", "lenet5", *(["--format", fmt] if fmt else []), "-o",
                         str(tmp_path / name))
    assert (code, out) == (2, "")
    assert err == f"error: {words.format(dir=tmp_path)}\n"
    assert list(tmp_path.iterdir()) == []


def test_export_takes_the_format_from_the_extension(cli, tmp_path: Path) -> None:
    """TorchScript, the quickest to write; every extension goes through format_for."""
    from cnncli.model.export import format_for

    target = tmp_path / "net.torchscript"
    code, out, err = cli("export", "lenet5", "-o", str(target))
    assert code == 0, err
    assert out.startswith(f"wrote {target} (torchscript, ")
    assert [format_for(f"n{ext}", None) for ext in (".pt2", ".ONNX", ".pt")] == \
        ["pt2", "onnx", "torchscript"]


# -- small wording ---------------------------------------------------------------------------

TINY_RESNET = "docs/examples/tiny_resnet.yaml"


@pytest.mark.parametrize("sweep,words", [
    ("widht=8,16", "--sweep widht: the spec has no parameter 'widht' (did you mean 'width'?); "
                   "its parameters: classes, depths, dropout, width"),
    ("width=8,x", "--sweep width: expected an integer like 16, got 'x'"),
])
def test_sweep_errors_name_sweep(cli, sweep: str, words: str) -> None:
    code, out, err = cli("compare", TINY_RESNET, "--sweep", sweep)
    assert (code, out, err) == (2, "", f"error: {words}\n")


def test_buffers_are_explained_only_where_there_are_some(cli) -> None:
    out = cli("summary", "alexnet")[1]
    assert " Buffers             0\n" in out
    out = cli("summary", "resnet18")[1]
    assert " Buffers             9,620 (BatchNorm running statistics; not params)\n" in out


# -- every option states its default ----------------------------------------------------------

#: the commands of commands/analysis.py, visual.py, model.py and bench.py, and the group's own
#: options; train, eval, predict and plot (commands/train.py) are checked with their module
STATED = ("summary", "flops", "list", "check", "spec", "explain", "compare", "diagram", "serve",
          "verify", "export", "bench")


def _unstated(command: click.Command) -> list[str]:
    """Options whose help leaves their default unsaid.

    The rule: an option passes when click shows its default (show_default with a value),
    when its help says "default" (the value, or where it comes from: "default: the spec's
    `input`"), when it is required (no default to state), or when it is an on/off flag
    (off unless given: nothing to state).
    """
    missing = []
    for param in command.params:
        if not isinstance(param, click.Option) or param.required or param.hidden:
            continue
        if param.is_flag and not param.secondary_opts:  # --x alone: off unless given
            continue
        shown = bool(param.show_default) and param.default not in (None, ())
        if not shown and "default" not in (param.help or "").lower():
            missing.append(f"{command.name} {param.opts[0]}")
    return missing


def test_every_option_states_its_default() -> None:
    from cnncli.commands import cli

    ctx = click.Context(cli)
    commands = [cli, *(cli.get_command(ctx, name) for name in STATED)]
    assert [m for c in commands for m in _unstated(c)] == []


def test_check_of_a_family_file_checks_every_member(cli) -> None:
    path = str(zoo_dir() / "vgg.yaml")
    code, out, err = cli("check", path)
    assert (code, err) == (0, "")
    assert [line.split(":")[1] for line in out.splitlines()] == [
        "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
    assert out.splitlines()[2].startswith(f"ok  {path}:vgg16: vgg16, input 3x224x224, output "
                                          "1000, 138,357,544 params")
