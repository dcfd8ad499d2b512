"""The zoo's index and `cnncli list`'s figures, kept in the user cache ($CNNCLI_INDEX).

A lookup reads the index instead of parsing every zoo file; a file that changes (size or
modification time), appears or goes makes it stale, and it is rebuilt; a cache that cannot
be written or read leaves every answer as it was, parsed on each call instead.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cnncli.analysis import zoolist
from cnncli.spec import zoo

SPECS = Path(zoo.zoo_dir())


def _forget() -> None:
    for cached_function in (zoo._scan, zoo.zoo_entries, zoo._index):
        cached_function.cache_clear()


@pytest.fixture
def small_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """A zoo of alexnet (one network), the lenet5 and resnet families in tmp_path, the index
    beside it; counts the times the YAML is parsed into an index."""
    folder = tmp_path / "specs"
    folder.mkdir()
    for name in ("alexnet.yaml", "lenet5.yaml", "resnet.yaml"):
        shutil.copy(SPECS / name, folder / name)
    monkeypatch.setattr(zoo, "zoo_dir", lambda: folder)
    monkeypatch.setattr(zoolist, "zoo_dir", lambda: folder)
    monkeypatch.setenv("CNNCLI_INDEX", str(tmp_path / "index"))
    state = {"folder": folder, "index": tmp_path / "index", "parses": 0}
    parse = zoo._parse

    def counted(where: Path) -> list:
        state["parses"] += 1
        return parse(where)

    monkeypatch.setattr(zoo, "_parse", counted)
    _forget()
    yield state
    _forget()


def test_a_lookup_reads_the_index_and_parses_nothing(small_zoo: dict) -> None:
    assert zoo.find("resnet-50-v1.5").name == "resnet50"
    assert small_zoo["parses"] == 1
    assert [p.name for p in small_zoo["index"].iterdir()] == [
        f"zoo-{zoo.zlib.crc32(str(small_zoo['folder']).encode()):08x}.json"]
    _forget()  # a new process
    entry = zoo.find("resnet50")
    assert small_zoo["parses"] == 1
    assert entry == zoo.ZooEntry("resnet50", small_zoo["folder"] / "resnet.yaml", "resnet50",
                                 ("resnet-50-v1.5",))
    assert zoo.find("krizhevsky2012") == zoo.ZooEntry(
        "alexnet", small_zoo["folder"] / "alexnet.yaml", None, ("alexnet-paper", "krizhevsky2012"))
    assert zoo.find("lecun98").variant == "lenet5_paper"
    assert zoo.find("vgg16") is None  # not in this zoo
    with pytest.raises(zoo.SpecError, match="could be any of resnet18, "):
        zoo.find("resnet")  # a family name stays ambiguous when read back


def test_a_changed_added_or_removed_file_makes_the_index_stale(small_zoo: dict) -> None:
    assert zoo.find("tiny-alexnet") is None
    alexnet = small_zoo["folder"] / "alexnet.yaml"
    alexnet.write_text(alexnet.read_text().replace("aliases: [", "aliases: [tiny-alexnet, "))
    _forget()
    assert zoo.find("tiny-alexnet").name == "alexnet"
    assert small_zoo["parses"] == 2
    shutil.copy(SPECS / "vgg.yaml", small_zoo["folder"] / "vgg.yaml")
    _forget()
    assert zoo.find("vgg16").file == small_zoo["folder"] / "vgg.yaml"
    (small_zoo["folder"] / "resnet.yaml").unlink()
    _forget()
    assert zoo.find("resnet50") is None
    assert "vgg16" in zoo.zoo_entries() and "lenet5_paper" in zoo.zoo_entries()
    assert small_zoo["parses"] == 4


def test_an_unwritable_or_broken_cache_changes_no_answer(small_zoo: dict,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    blocker = small_zoo["index"].parent / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CNNCLI_INDEX", str(blocker / "index"))  # mkdir fails, even as root
    for parses in (1, 2):
        _forget()
        assert zoo.find("resnet-50-v1.5").name == "resnet50"
        assert small_zoo["parses"] == parses  # parsed every call, no error
    monkeypatch.setenv("CNNCLI_INDEX", str(small_zoo["index"]))
    _forget()
    zoo.find("lenet5")
    (index,) = small_zoo["index"].iterdir()
    index.write_text("{not json")
    _forget()
    assert zoo.find("resnet-50-v1.5").name == "resnet50"
    assert small_zoo["parses"] == 4
    assert json.loads(index.read_text())["value"]  # rewritten whole
    stored = json.loads(index.read_text())
    stored["value"][0][1] = "../../elsewhere.yaml"  # a file outside the zoo: not followed
    index.write_text(json.dumps(stored))
    _forget()
    assert zoo.find("alexnet").file == small_zoo["folder"] / "alexnet.yaml"
    assert small_zoo["parses"] == 5


def test_list_figures_are_kept_until_a_file_changes(small_zoo: dict,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (small_zoo["folder"] / "resnet.yaml").unlink()  # a small zoo analyses fast
    first = zoolist.records()
    assert [(r["name"], r["params"]) for r in first] == [
        ("alexnet", 60_965_224), ("lenet5", 61_706), ("lenet5_paper", 60_000)]

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} analysed again")

    monkeypatch.setattr(zoolist, "analyze", refuse)
    _forget()
    assert zoolist.records() == first  # read back, nothing analysed
    lenet = small_zoo["folder"] / "lenet5.yaml"
    lenet.write_text(lenet.read_text().replace("classes: 10", "classes: 12"))
    _forget()
    with pytest.raises(AssertionError, match="analysed again"):
        zoolist.records()


def test_no_zoo_folder_is_an_empty_zoo(small_zoo: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zoo, "zoo_dir", lambda: small_zoo["folder"] / "missing")
    _forget()
    assert zoo.zoo_entries() == {} and zoo.find("alexnet") is None
