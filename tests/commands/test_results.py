"""The static commands' kept answers (commands.results): a repeat prints exactly what working
the answer out prints, and nothing it was worked out from can change without the answer
being worked out again.

Each test has a results folder of its own (conftest's own_results_cache). A kept answer is
told apart from a worked-out one by making the work fail: `spoiled` replaces the analysis
behind summary, flops and check with one that raises.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest

from cnncli.commands import analysis as commands
from cnncli.commands import options, results
from cnncli.spec.zoo import zoo_dir

NET = "name: tiny\ninput: 1x8x8\nlayers:\n  - conv: {out: 4, kernel: 3}\n  - relu\n  - flatten\n" \
      "  - linear: {out: 3}\n"
INCLUDED = "name: tiny\ninput: 1x8x8\ninclude: [parts.yaml]\nlayers:\n  - stem\n  - flatten\n" \
           "  - linear: {out: 3}\n"
PARTS = "blocks:\n  stem:\n    layers:\n      - conv: {out: %d, kernel: 3}\n      - relu\n"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def spoiled(monkeypatch: pytest.MonkeyPatch):
    """Within: any command that works its answer out fails (a kept one still prints)."""
    def spoil() -> None:
        def fail(*args, **kwargs):
            raise AssertionError("worked out, not replayed")
        monkeypatch.setattr(commands, "analysis_for", fail)
    return spoil


def kept() -> list[Path]:
    return sorted(Path(os.environ["CNNCLI_RESULTS"]).glob("*.json"))


@pytest.mark.parametrize("args", [
    ["summary", "lenet5"], ["summary", "lenet5", "--format", "json"],
    ["summary", "lenet5", "-f", "csv", "--batch", "8", "--dtype", "fp16"],
    ["summary", "resnet18", "--format", "markdown", "--depth", "2"],
    ["summary", "lenet5", "--train", "--optimizer", "adam", "--max-batch", "1GiB"],
    ["summary", "lenet5", "--train"], ["summary", "alexnet", "--freeze", "conv*"],
    ["flops", "alexnet"], ["flops", "alexnet", "--format", "json", "--top", "3"],
    ["check", "lenet5", "alexnet", "--input", "3x227x227"],
])
def test_a_repeat_prints_exactly_the_worked_out_answer(cli, spoiled, args: list[str]) -> None:
    first = cli(*args)
    assert first[0] == 0 and first[1] and len(kept()) == 1
    spoiled()
    assert cli(*args) == first


def test_a_family_file_checked_variant_by_variant_is_kept_whole(cli, spoiled) -> None:
    spec = str(zoo_dir() / "lenet5.yaml")
    first = cli("check", spec)
    assert first[0] == 0 and first[1].count("\nok  ") >= 1
    spoiled()
    assert cli("check", spec) == first


def test_every_option_and_value_is_its_own_answer(cli) -> None:
    answers = {cli("summary", "lenet5", *extra)[1] for extra in (
        [], ["--batch", "2"], ["--dtype", "fp16"], ["--set", "classes=7"],
        ["--input", "1x36x36"], ["--format", "csv"], ["--format", "json"])}
    assert len(answers) == 7 and len(kept()) == 7
    assert cli("summary", "lenet5", "--batch", "2")[1] in answers  # the kept one, same text


def test_an_edited_spec_is_worked_out_again(cli, here: Path) -> None:
    spec = here / "net.yaml"
    spec.write_text(NET)
    before = cli("check", "net.yaml")[1]
    stat = spec.stat()
    spec.write_text(NET.replace("out: 3", "out: 5"))  # same size ...
    os.utime(spec, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ... and the same mtime
    after = cli("check", "net.yaml")[1]
    assert "output 3," in before and "output 5," in after


def test_an_edited_include_is_worked_out_again(cli, here: Path) -> None:
    (here / "net.yaml").write_text(INCLUDED)
    (here / "parts.yaml").write_text(PARTS % 4)
    four = cli("summary", "net.yaml", "--format", "json")[1]
    (here / "parts.yaml").write_text(PARTS % 6)
    six = cli("summary", "net.yaml", "--format", "json")[1]
    params = [json.loads(doc)["totals"]["params"] for doc in (four, six)]
    assert params == [4 * 9 + 4 + 4 * 36 * 3 + 3, 6 * 9 + 6 + 6 * 36 * 3 + 3]
    (here / "parts.yaml").unlink()  # gone: the error, not the kept answer
    code, _, err = cli("summary", "net.yaml")
    assert code == 2 and "included file 'parts.yaml' not found" in err


def test_a_file_that_appears_wins_over_the_kept_zoo_answer(cli, here: Path) -> None:
    assert cli("check", "lenet5")[1].startswith("ok  lenet5: lenet5, ")
    (here / "lenet5").write_text(NET)
    assert cli("check", "lenet5")[1].startswith("ok  lenet5: tiny, ")


def test_another_working_folder_or_width_is_another_answer(cli, here: Path,
                                                          monkeypatch) -> None:
    (here / "a").mkdir()
    (here / "b").mkdir()
    (here / "a" / "net.yaml").write_text(NET)
    (here / "b" / "net.yaml").write_text(NET.replace("name: tiny", "name: other"))
    monkeypatch.chdir(here / "a")
    assert "tiny" in cli("check", "net.yaml")[1]
    monkeypatch.chdir(here / "b")
    assert "other" in cli("check", "net.yaml")[1]
    kept_before = len(kept())
    monkeypatch.setenv("CNNCLI_INDEX", str(here / "index"))  # any CNNCLI_ variable
    assert "other" in cli("check", "net.yaml")[1] and len(kept()) == kept_before + 1
    piped = cli("summary", "alexnet")[1]
    monkeypatch.setattr(options, "output_width", lambda: 60)
    narrow = cli("summary", "alexnet")[1]
    assert narrow != piped and max(map(len, narrow.splitlines())) <= 60


def test_changed_code_or_zoo_is_worked_out_again(cli, spoiled, tmp_path: Path,
                                                 monkeypatch) -> None:
    code_dir, zoo_a, zoo_b = (tmp_path / n for n in ("code", "zoo_a", "zoo_b"))
    for folder in (code_dir, zoo_a, zoo_b):
        folder.mkdir()
    (code_dir / "m.py").write_text("x = 1\n")
    monkeypatch.setattr(results, "PACKAGE", code_dir)
    monkeypatch.setattr(results, "ZOO_PLACES", (zoo_a, zoo_b))
    first = cli("check", "lenet5")
    spoiled()
    assert cli("check", "lenet5") == first
    for change in (lambda: (code_dir / "m.py").write_text("x = 22\n"),
                   lambda: (zoo_b / "new.yaml").write_text(NET),
                   lambda: monkeypatch.setattr(results, "__version__", "99.0")):
        before = results.code_key()
        change()
        assert results.code_key() != before
        with pytest.raises(AssertionError, match="worked out, not replayed"):
            cli("check", "lenet5")


def test_the_zoo_is_found_where_the_key_looks() -> None:
    assert zoo_dir() in results.ZOO_PLACES


@pytest.mark.parametrize("case", ["note", "stdin", "error", "off"])
def test_what_is_not_kept(cli, here: Path, monkeypatch, case: str) -> None:
    """A note on stderr would not be repeated; standard input is read once; an error is
    worked out each time; CNNCLI_RESULTS=off keeps nothing."""
    if case == "note":
        code, _, err = cli("check", "alexnet.yaml")  # the zoo's, with a note saying so
        assert code == 0 and err.startswith("note: no ./alexnet.yaml here")
        assert cli("check", "alexnet.yaml")[2] == err
    elif case == "stdin":
        monkeypatch.setattr(sys, "stdin", io.StringIO(NET))
        assert cli("check", "-")[1].startswith("ok  -: tiny")
    elif case == "error":
        (here / "bad.yaml").write_text("name: bad\ninput: 1x8x8\nlayers:\n  - conv: {kernel: 3}\n")
        assert cli("check", "bad.yaml")[0] == 2
    else:
        monkeypatch.setenv("CNNCLI_RESULTS", "off")
        assert results.results_dir() is None and cli("check", "lenet5")[0] == 0
        monkeypatch.setenv("CNNCLI_RESULTS", str(here / "results"))
    assert kept() == []


def test_a_damaged_or_unwritable_cache_changes_nothing(cli, here: Path, monkeypatch) -> None:
    first = cli("summary", "lenet5", "--format", "json")
    [entry] = kept()
    good = json.loads(entry.read_text())
    for damage in ("{not json", json.dumps({"request": 1}), json.dumps([]),
                   json.dumps({**good, "printed": "a string, not a list of them"})):
        entry.write_text(damage)
        assert cli("summary", "lenet5", "--format", "json") == first
    blocker = here / "blocker"
    blocker.write_text("a file where the folder would be")
    monkeypatch.setenv("CNNCLI_RESULTS", str(blocker / "results"))
    assert cli("summary", "lenet5", "--format", "json") == first


def test_the_oldest_answers_go(cli, here: Path, monkeypatch) -> None:
    monkeypatch.setattr(results, "MAX_ENTRIES", 2)
    (here / "net.yaml").write_text(NET)
    written: list[str] = []  # each answer's file, in the order they were kept
    for side in (9, 10, 11):
        assert cli("check", "net.yaml", "--input", f"1x{side}x{side}")[0] == 0
        [new] = {p.name for p in kept()} - set(written)
        written.append(new)
    assert {p.name for p in kept()} == set(written[1:])


def test_a_kept_file_is_compared_as_spec_files_are_read(tmp_path: Path) -> None:
    spec = tmp_path / "bom.yaml"
    spec.write_bytes(b"\xef\xbb\xbf" + NET.encode())
    assert results._holds(str(spec), NET)  # read_text drops the BOM too
    assert not results._holds(str(spec), NET + "\n")
    spec.write_bytes(b"\xff\xfe")
    assert not results._holds(str(spec), "")


def test_a_file_named_with_depends_on_is_compared_too(cli, here: Path, monkeypatch) -> None:
    """A command that reads more than its spec (a device profile) names the file."""
    extra = here / "profile.json"
    extra.write_text('{"gflops": 1}')
    worked_out, analysis_for = [], commands.analysis_for

    def with_profile(*args, **kwargs):
        worked_out.append(True)
        options.depends_on({str(extra): extra.read_text()})
        return analysis_for(*args, **kwargs)

    monkeypatch.setattr(commands, "analysis_for", with_profile)
    first = cli("check", "lenet5")
    assert cli("check", "lenet5") == first and len(worked_out) == 1
    extra.write_text('{"gflops": 2}')
    assert cli("check", "lenet5") == first and len(worked_out) == 2


def test_answers_that_read_a_profile_or_an_onnx_file_are_not_kept(cli, tmp_path: Path) -> None:
    """--time's profile may be this machine's newest (a new calibration changes it), and an
    ONNX file is binary: both are worked out every time, and nothing is written."""
    import os

    import onnx_fixture
    folder = Path(os.environ["CNNCLI_RESULTS"])
    before = sorted(folder.glob("*.json"))
    assert cli("summary", "lenet5", "--time", "t4")[0] == 0
    model = onnx_fixture.unpack("squeezenet1_1.ts17.onnx", tmp_path)
    assert cli("summary", str(model))[0] == 0
    assert sorted(folder.glob("*.json")) == before
