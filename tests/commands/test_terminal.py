"""What a person sees in a terminal: tables fit the window, figures are never cut.

Piped output (the other tests) stays complete; here the same commands run at 80, 120 and 200
columns, in-process with the width fixed and, marked slow, under a real pseudo-terminal.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import in_terminal, screen

from cnncli.analysis.table import KeyValues, TextTable, short_number, shorten_cell
from cnncli.commands import options

CUT = re.compile(r"[0-9,.]…|…[0-9]")

COMMANDS = [
    ["summary", "alexnet"],
    ["summary", "resnet50"],
    ["summary", "densenet121"],
    ["summary", "resnet18", "--train"],
    ["flops", "googlenet"],
    pytest.param(["list"], marks=pytest.mark.slow),  # analyses the whole zoo
    ["compare", "resnet18", "resnet34", "resnet50", "--depth", "1"],
    ["explain", "alexnet"],
    ["explain", "googlenet", "inception3a"],
]


# -- the table itself ------------------------------------------------------------------------

@pytest.mark.parametrize("n,text", [
    (0, "0"), (999, "999"), (1000, "1.00K"), (9472, "9.47K"), (99_950, "100K"),
    (802_816, "803K"), (999_999, "1.00M"), (118_013_952, "118M"), (1_448_813_632, "1.45G"),
    (-25_000, "-25.0K"), (3 * 10**15, "3000T"),
])
def test_short_numbers_have_three_significant_digits(n: int, text: str) -> None:
    assert short_number(n) == text


def test_shorten_cell_keeps_what_follows_the_number() -> None:
    assert shorten_cell("236,027,904") == "236M"
    assert shorten_cell("9,472 ✓") == "9.47K ✓"
    assert shorten_cell("11,689,512 (1.86x)") == "11.7M (1.86x)"
    assert shorten_cell("64x112x112") == "64x112x112"
    assert shorten_cell("—") == "—"
    assert shorten_cell("7.46") == "7.46"


def _table() -> TextTable:
    cells = [["features.denseblock1.conv", "conv", "64x56x56", "118,013,952", "236,027,904",
              "9,472"], ["fc", "linear", "1000", "1,024,000", "2,048,000", "1,025,000"]]
    return TextTable("title", ["Layer", "Type", "Output", "MACs", "FLOPs", "Params"], cells, 3,
                     drop=("FLOPs", "Type"))


def test_a_pipe_gets_every_column_exact() -> None:
    lines = _table().lines(None)
    assert lines[2].split() == ["Layer", "Type", "Output", "MACs", "FLOPs", "Params"]
    assert "236,027,904" in lines[4] and not any("To fit" in line for line in lines)


def test_columns_are_left_out_in_the_stated_order_and_said() -> None:
    full = max(map(len, _table().lines(None)))
    lines = _table().lines(full - 1)
    assert lines[2].split() == ["Layer", "Type", "Output", "MACs", "Params"]
    assert "118,013,952" in lines[4]  # exact while exact ones fit
    assert lines[-2] == (f" To fit {full - 1} columns: left out FLOPs. --wide shows every "
                         "column, exact.")
    narrow = _table().lines(60)
    assert narrow[2].split() == ["Layer", "Output", "MACs", "Params"]
    assert all(len(line) <= 60 for line in narrow)


def test_numbers_shorten_only_after_columns_are_left_out() -> None:
    lines = _table().lines(57)  # MACs shortened saves enough; Params stays exact
    assert lines[2].split() == ["Layer", "Output", "MACs", "Params"]
    assert lines[4].split() == ["features.denseblock1.conv", "64x56x56", "118M", "9,472"]
    assert "MACs in K/M/G (3 significant digits)" in " ".join(w for x in lines[-4:]
                                                            for w in x.split())
    assert all(len(line) <= 57 for line in lines)


def test_the_first_column_is_never_cut_even_past_the_width() -> None:
    lines = _table().lines(20)
    assert lines[4].strip() == "features.denseblock1.conv"


def test_a_wrapped_column_wraps_instead_of_widening() -> None:
    table = TextTable(None, ["Name", "Params", "Description"],
                      [["lenet5", "61,706", "LeNet-5 as in the paper: tanh, average pooling and "
                        "C3 connected to all six S2 maps"]], 1, wrap=("Description",))
    lines = table.lines(50)
    assert all(len(line) <= 50 for line in lines)
    assert lines[2].startswith(" lenet5   61,706   LeNet-5 as in the paper:")
    assert all(line.startswith(" " * 19) for line in lines[3:-1])
    words = " ".join(line[19:].strip() for line in lines[2:-1])
    assert words == ("LeNet-5 as in the paper: tanh, average pooling and C3 connected to all "
                     "six S2 maps")


def test_key_values_wrap_under_the_value() -> None:
    lines = KeyValues([("Buffers", "0"), ("Other ops", "8,498,568 (8.50 M), not in MACs/FLOPs "
                                          "and a long explanation that wraps")]).lines(50)
    assert lines[0] == " Buffers     0"
    assert lines[1].startswith(" Other ops   8,498,568") and len(lines[1]) <= 50
    assert lines[2].startswith(" " * 13) and lines[2].strip()


# -- every table command at a fixed width, in-process ------------------------------------------

def _check_fits(out: str, width: int) -> None:
    wide = [line for line in out.splitlines() if len(line) > width]
    assert not wide, f"{len(wide)} lines wider than {width}: {wide[:2]}"
    assert not CUT.search(out), "a figure is cut with an ellipsis"


@pytest.mark.parametrize("width", [80, 120, 200])
@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_tables_fit_the_terminal(cli, monkeypatch, args: list[str], width: int) -> None:
    monkeypatch.setattr(options, "output_width", lambda: width)
    code, out, err = cli(*args)
    assert code == 0, err
    _check_fits(out, width)


def test_every_row_name_is_shown_whole_at_80_columns(cli, monkeypatch) -> None:
    code, out, _ = cli("summary", "densenet121", "--format", "json")
    paths = [layer["path"] for layer in json.loads(out)["layers"]]
    monkeypatch.setattr(options, "output_width", lambda: 80)
    code, out, _ = cli("summary", "densenet121")
    firsts = [line.split()[0] for line in out.splitlines() if line.startswith(" ") and
              line.split()]
    assert code == 0 and all(path in firsts for path in paths)


@pytest.mark.slow
def test_list_keeps_every_name_you_must_type(cli, monkeypatch) -> None:
    code, out, _ = cli("list", "--format", "json")
    names = [n["name"] for n in json.loads(out)["networks"]]
    monkeypatch.setattr(options, "output_width", lambda: 80)
    code, out, _ = cli("list")
    firsts = {line.split()[0] for line in out.splitlines() if line.startswith(" ") and
              line.split()}
    assert code == 0 and set(names) <= firsts
    assert "left out Aliases, Input, Weights" in out.replace("\n   ", " ")


def test_wide_shows_every_column_in_a_terminal(cli, monkeypatch) -> None:
    monkeypatch.setattr(options.sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(shutil, "get_terminal_size",  # takes what the real one takes
                        lambda fallback=(80, 24): os.terminal_size((80, 24)))
    code, narrow, _ = cli("summary", "alexnet")
    code, wide, _ = cli("summary", "alexnet", "--wide")
    assert "FLOPs" not in narrow.splitlines()[2] and "--wide" in narrow
    assert wide.splitlines()[2].split()[-3:] == ["Other", "ops", "Activations", "RF/stride"][1:]
    assert "1,448,813,632" in wide and "To fit" not in wide


# -- a real pseudo-terminal -----------------------------------------------------------------

def run_in_terminal(args: list[str], columns: int, cwd: Path | None = None) -> tuple[int, str]:
    """`cnncli ARGS` on a pseudo-terminal: (exit code, the screen's text)."""
    code, raw = in_terminal(args, columns, cwd)
    return code, screen(raw)


@pytest.mark.slow
@pytest.mark.parametrize("columns", [80, 120, 200])
def test_static_commands_fit_a_real_terminal(columns: int) -> None:
    for args in (["summary", "alexnet"], ["flops", "googlenet"], ["list"],
                 ["compare", "resnet18", "resnet50", "--depth", "1"], ["explain", "alexnet"]):
        code, screen = run_in_terminal(args, columns)
        assert code == 0, screen[-500:]
        _check_fits(screen, columns)
        if columns == 80:  # each of these is wider than 80 when complete
            assert "--wide shows every column" in screen.replace("\n   ", " ")


@pytest.mark.slow
def test_notes_and_errors_wrap_in_a_real_terminal(tmp_path: Path) -> None:
    """stderr lines (note:, error:) wrap at the window under their first word; piped, they
    stay one line each."""
    code, screen = run_in_terminal(["summary", "alexnet.yaml"], 80, cwd=tmp_path)
    assert code == 0
    _check_fits(screen, 80)
    lines = screen.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("note: "))
    assert lines[first + 1].startswith("  ") and "copies it here)" in lines[first + 1]
    piped = subprocess.run([sys.executable, "-m", "cnncli", "summary", "alexnet.yaml"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert piped.stderr == ("note: no ./alexnet.yaml here; using the zoo's alexnet (cnncli "
                            "spec alexnet -o alexnet.yaml copies it here)\n")
