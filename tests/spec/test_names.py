"""How SPEC is found: zoo names and aliases whatever the spelling, a missing spec file that the
zoo has, standard input, `cnncli spec`, shell completion; and what each wrong name says."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cnncli
from cnncli.spec.zoo import find, normalize, zoo_dir, zoo_entries

TYPED = {  # what people type -> the zoo network they mean
    "lenet": "lenet5", "lenet-5": "lenet5", "LeNet5": "lenet5", "LeNet-5": "lenet5",
    "vgg-16": "vgg16", "VGG16": "vgg16", "vgg_16": "vgg16", "VGG-16-BN": "vgg16_bn",
    "vgg-d": "vgg16", "googlenet": "googlenet", "GoogLeNet": "googlenet",
    "inception-v1": "googlenet", "inception_v1": "googlenet", "Inception V1": "googlenet",
    "resnet-50": "resnet50", "ResNet50": "resnet50", "resnet 50": "resnet50",
    "ResNet-152": "resnet152", "alexnet": "alexnet", "AlexNet": "alexnet",
    "alexnet-torchvision": "alexnet_tv", "googlenet-torchvision": "googlenet_tv",
}


@pytest.mark.parametrize("typed", sorted(TYPED))
def test_names_people_type(typed: str) -> None:
    entry = find(typed)
    assert entry is not None and entry.name == TYPED[typed]


def test_every_entry_answers_to_its_name_and_aliases() -> None:
    for name, entry in zoo_entries().items():
        for word in (name, name.upper(), name.replace("_", "-"), *entry.aliases):
            assert find(word) == entry, word


def test_no_two_networks_share_an_alias() -> None:
    seen: dict[str, str] = {}
    for name, entry in zoo_entries().items():
        for word in (name, *entry.aliases):
            key = normalize(word)
            assert seen.setdefault(key, name) == name, f"{word!r}: {seen[key]} and {name}"


def test_a_family_name_is_ambiguous_and_lists_the_candidates(cli) -> None:
    code, _, err = cli("summary", "resnet")
    assert code == 2
    assert err == ("error: 'resnet' could be any of resnet18, resnet34, resnet50, resnet101, "
                   "resnet152, resnext50_32x4d, resnext101_32x8d, resnext101_64x4d, "
                   "wide_resnet50_2, wide_resnet101_2; name one of them\n")
    code, _, err = cli("summary", "VGG")
    assert code == 2 and "'VGG' could be any of vgg11, vgg13, vgg16, vgg19, vgg11_bn" in err


def test_unknown_name_suggests_the_closest(cli) -> None:
    code, _, err = cli("summary", "lenett")
    assert code == 2
    assert err == ("error: no spec file or zoo network named 'lenett' (did you mean 'lenet'?); "
                   "`cnncli list` shows the zoo\n")


@pytest.mark.slow
def test_list_shows_aliases(cli) -> None:
    code, out, _ = cli("list", "--format", "json")
    import json

    networks = {n["name"]: n for n in json.loads(out)["networks"]}
    assert networks["lenet5"]["aliases"] == ["lenet", "lenet-5"]
    assert "lecun98" in networks["lenet5_paper"]["aliases"]
    assert networks["googlenet"]["aliases"][0] == "inception-v1"
    code, out, _ = cli("list")
    lines = out.splitlines()
    row = next(line for line in lines if line.startswith(" lenet5 "))
    assert "lenet, lenet-5" in row and "61,706" in row
    assert not any(line.endswith(" ") for line in lines)  # piped: nothing trails
    names = [line.split()[0] for line in lines[4:] if line.strip()]
    assert names.index("resnet18") < names.index("resnet101")  # natural order


# -- a spec file that is not here ----------------------------------------------------------

@pytest.mark.parametrize(("typed", "network", "note"), [
    ("alexnet.yaml", "alexnet", "no ./alexnet.yaml here; using the zoo's alexnet "
     "(cnncli spec alexnet -o alexnet.yaml copies it here)"),
    ("lenet.yaml", "lenet5", "no ./lenet.yaml here; using the zoo's lenet5 "
     "(cnncli spec lenet5 -o lenet.yaml copies it here)"),
    ("vgg16.yaml", "vgg16", "no ./vgg16.yaml here; using the zoo's vgg16 "
     "(cnncli spec vgg16 -o vgg16.yaml copies it here)"),
    ("resnet.yaml:resnet50", "resnet50", "no ./resnet.yaml here; using the zoo's resnet.yaml "
     "(cnncli spec resnet50 -o FILE copies a network here)"),
    ("./googlenet.yml", "googlenet", "no ./googlenet.yml here; using the zoo's googlenet "
     "(cnncli spec googlenet -o ./googlenet.yml copies it here)"),
])
def test_missing_file_that_the_zoo_has(cli, tmp_path: Path, monkeypatch, typed: str,
                                       network: str, note: str) -> None:
    """The note says what it used and how to get a copy, never an install path."""
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("check", typed)
    assert code == 0, err
    assert out.startswith(f"ok  {typed}: {network}, ")
    assert err.splitlines() == [f"note: {note}"]
    assert str(zoo_dir()) not in err


def test_a_file_that_exists_wins_over_the_zoo(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "alexnet.yaml").write_text(
        "name: mine\ninput: [1, 8, 8]\nlayers:\n  - flatten\n  - linear: {out: 2}\n")
    code, out, err = cli("check", "alexnet.yaml")
    assert code == 0 and out.startswith("ok  alexnet.yaml: mine, ") and err == ""


def test_other_missing_paths_stay_errors(cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("check", "my_net.yaml")
    assert code == 2 and err == "error: spec file 'my_net.yaml' does not exist\n"
    code, _, err = cli("check", "models/alexnet.yaml")  # a path elsewhere: not guessed
    assert code == 2 and err == ("error: spec file 'models/alexnet.yaml' does not exist (the "
                                 "zoo's alexnet is named by its name alone)\n")
    code, _, err = cli("check", str(tmp_path))
    assert code == 2 and err == (f"error: {str(tmp_path)!r} is a directory; give a spec file "
                                 "(.yaml) or a zoo name\n")


def test_spec_from_standard_input(cli, monkeypatch) -> None:
    text = (zoo_dir() / "lenet5.yaml").read_text()
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))
    code, out, err = cli("summary", "-", "--format", "json")
    assert code == 0, err
    import json

    assert json.loads(out)["totals"]["params"] == 61_706
    bad = "name: x\ninput: [1, 4, 4]\nlayers: [relu, bad]\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(bad))
    code, _, err = cli("check", "-")
    assert code == 2 and err.startswith("error: <stdin>:3:16: layer 1: unknown layer type 'bad'")


# -- cnncli spec -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["vgg16_bn", "resnet50", "googlenet_tv", "lenet", "alexnet"])
def test_spec_writes_a_file_that_stands_alone(cli, tmp_path: Path, name: str) -> None:
    target = tmp_path / "mine.yaml"
    code, _, err = cli("spec", name, "-o", str(target))
    assert code == 0, err
    zoo = cnncli.analyze(name).totals()
    mine = cnncli.analyze(str(target))
    assert mine.totals() == zoo
    assert mine.network.name == find(name).name  # type: ignore[union-attr]
    code, _, err = cli("spec", name, "-o", str(target))
    assert code == 2 and err == f"error: {target} exists; pass --force to overwrite it\n"
    assert cli("spec", name, "-o", str(target), "--force")[0] == 0


def test_spec_prints_to_stdout_and_refuses_unknown_names(cli) -> None:
    code, out, _ = cli("spec", "vgg-a")
    assert code == 0
    assert out.splitlines()[2:4] == ["name: vgg11", "aliases: [vgg-a]"]
    assert "variants:" not in out and "\nvariant:" not in out
    assert "  depths: [1, 1, 2, 2, 2]" in out.splitlines()  # vgg11's, not the family's
    code, _, err = cli("spec", "resnet")
    assert code == 2 and "could be any of resnet18" in err
    code, _, err = cli("spec", "lenett")
    assert code == 2 and "no zoo network named 'lenett' (did you mean 'lenet'?)" in err


def test_variant_line_names_a_variant(cli, tmp_path: Path) -> None:
    text = (zoo_dir() / "vgg.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text("variant: vgg17\n" + text)
    code, _, err = cli("check", str(bad))
    assert code == 2 and err.startswith(f"error: {bad}:1:10: variant: 'vgg17' is not one of")
    assert cli("check", f"{bad}:vgg11")[0] == 2  # the bad line is refused whatever is chosen


# -- shell completion ---------------------------------------------------------------------

def complete(words: str, cwd: Path | None = None) -> list[str]:
    env = {**os.environ, "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1),
           "_CNNCLI_COMPLETE": "bash_complete"}
    run = subprocess.run([sys.executable, "-m", "cnncli"], env=env, capture_output=True,
                         text=True, timeout=60, cwd=cwd)
    return [line.split(",", 1)[1] for line in run.stdout.splitlines()]


@pytest.mark.slow
def test_completion_of_spec(tmp_path: Path) -> None:
    assert complete("cnncli summary lene") == ["lenet", "lenet-5", "lenet5", "lenet5-1998",
                                               "lenet5-original", "lenet5_paper"]
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "a.yaml").write_text("")
    (tmp_path / "notes.txt").write_text("")
    assert complete("cnncli flops n", tmp_path) == ["nets/"]
    assert complete("cnncli train nets/", tmp_path) == ["nets/a.yaml"]
