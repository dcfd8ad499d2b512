"""The playground's answers, in process: the same figures as `cnncli summary --format json`,
the CLI's located errors, includes only from the zoo and SPEC's folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnncli.serve import jobs
from cnncli.spec.zoo import zoo_dir

SPEC = """\
name: tiny
input: [3, 32, 32]
params: {width: 8, deep: 2}
layers:
  - conv: {out: width, kernel: 3, padding: 1}
  - relu
  - repeat: {count: deep, body: [{conv: {out: width, kernel: 3, padding: 1}}]}
  - global_avgpool
  - flatten
  - linear: {out: 10}
"""


@pytest.fixture
def setup(tmp_path: Path) -> jobs.Setup:
    """The editor's text named as a file in tmp_path, which (with the zoo) it may include from."""
    return jobs.Setup(str(tmp_path / "net.yaml"), (str(zoo_dir()), str(tmp_path)))


def test_the_answer_is_the_cli_s_summary(setup: jobs.Setup, cli, tmp_path: Path) -> None:
    (tmp_path / "net.yaml").write_text(SPEC)
    code, out, _ = cli("summary", str(tmp_path / "net.yaml"), "--format", "json", "--batch", "4",
                       "--set", "width=16")
    assert code == 0
    answer = jobs.run(setup, "analyze", {"spec": SPEC, "batch": 4, "set": {"width": 16}})
    assert answer["summary"] == json.loads(out)  # every row and total, the header too
    assert answer["summary"]["totals"]["params"] == 16 * 27 + 16 + 2 * (16 * 144 + 16) + 170
    assert [c[0] for c in answer["cells"]] == [r["path"] for r in answer["summary"]["layers"]]
    assert answer["params"] == [{"name": "width", "value": 16, "kind": "int"},  # in force
                                {"name": "deep", "value": 2, "kind": "int"}]
    assert answer["nodes"][""]["macs"] == answer["summary"]["totals"]["macs"]
    assert answer["nodes"]["2"]["block"] and not answer["nodes"]["0"]["block"]


def test_depth_and_open_blocks_shape_the_table_and_the_drawing(setup: jobs.Setup) -> None:
    shut = jobs.run(setup, "analyze", {"spec": SPEC, "depth": 1})
    assert [r["path"] for r in shut["summary"]["layers"]] == ["0", "1", "2", "3", "4", "5"]
    assert 'data-path="2.0"' not in shut["svg"] and 'data-path="2"' in shut["svg"]
    opened = jobs.run(setup, "analyze", {"spec": SPEC, "depth": 1, "open": ["2"]})
    assert 'class="frame" data-path="2"' in opened["svg"] and 'data-path="2.1"' in opened["svg"]
    closed = jobs.run(setup, "analyze", {"spec": SPEC, "open": ["2"]})  # every layer, 2 shut
    assert 'class="frame"' not in closed["svg"] and 'data-path="2.0"' not in closed["svg"]


def test_a_typo_is_the_cli_s_located_error(setup: jobs.Setup) -> None:
    answer = jobs.run(setup, "analyze", {"spec": SPEC.replace("kernel: 3, padding", "kernal: 3, "
                                                              "padding", 1)})
    error = answer["error"]
    assert (error["line"], error["col"], error["file"]) == (5, 24, setup.name)  # at `kernal`
    assert "conv has no option 'kernal' (did you mean 'kernel'?)" in error["message"]
    bad_set = jobs.run(setup, "analyze", {"spec": SPEC, "set": {"widht": 3}})
    assert "the spec has no parameter 'widht' (did you mean 'width'?)" in \
        bad_set["error"]["message"]
    assert "batch must be" in jobs.run(setup, "analyze", {"spec": SPEC, "batch": 0})["error"][
        "message"]


@pytest.mark.parametrize("name", ["/etc/passwd", "../outside.yaml", "sub/../../outside.yaml"])
def test_includes_outside_the_zoo_and_spec_folder_are_refused(setup: jobs.Setup, tmp_path: Path,
                                                              name: str) -> None:
    (tmp_path.parent / "outside.yaml").write_text("blocks: {}\n")
    answer = jobs.run(setup, "analyze", {"spec": f"include: {name}\n" + SPEC})
    assert answer["error"]["message"].startswith(
        f"{setup.name}:1:10: included file {name!r} is not in the folders this spec may "
        "include from")
    assert answer["error"]["line"] == 1


def test_includes_from_spec_s_folder_and_the_zoo_are_read(setup: jobs.Setup,
                                                          tmp_path: Path) -> None:
    (tmp_path / "blocks.yaml").write_text("blocks:\n  pair:\n    layers: [{conv: {out: 4, "
                                          "kernel: 1}}, relu]\n")
    spec = "include: blocks.yaml\n" + SPEC.replace("  - relu\n", "  - pair\n")
    assert jobs.run(setup, "analyze", {"spec": spec})["summary"]["layers"][1]["path"] == "1.0"
    # found in the zoo (a network, not a block file: refused for its keys, so it was read)
    zoo = jobs.run(setup, "analyze", {"spec": "include: lenet5.yaml\n" + SPEC})
    assert "unknown key 'name' in included file 'lenet5.yaml'" in zoo["error"]["message"]
    assert zoo["error"]["file"] == str(zoo_dir() / "lenet5.yaml")  # not the editor's line


def test_explain_compare_export_and_the_zoo(setup: jobs.Setup) -> None:
    explained = jobs.run(setup, "explain", {"spec": SPEC, "path": "0"})
    params = next(f for f in explained["rows"][0]["figures"] if f["name"] == "params")
    assert params["value"] == 8 * 27 + 8
    wider = SPEC.replace("width: 8", "width: 16")
    compared = jobs.run(setup, "compare", {"spec": wider, "previous": SPEC})
    first, second = compared["networks"]
    assert (first["label"], second["label"]) == ("previous version", "this spec")
    assert first["params"] == 8 * 27 + 8 + 2 * (8 * 72 + 8) + 90
    assert second["ratios"]["params"] == round(second["params"] / first["params"], 6)
    assert jobs.run(setup, "compare", {"spec": SPEC, "zoo": "lenet5"})["networks"][0][
        "params"] == 61_706
    csv = jobs.run(setup, "export", {"spec": SPEC, "format": "csv"})["text"]
    assert csv.splitlines()[1].startswith("0,conv,8x32x32,224,")
    assert jobs.run(setup, "export", {"spec": SPEC, "format": "markdown"})["text"].startswith(
        "## tiny")
    names = jobs.run(setup, "zoo", {})["names"]
    assert {"alexnet", "resnet50", "lenet5"} <= set(names)
    lenet = jobs.run(setup, "zoo", {"name": "lenet5"})
    assert lenet["name"] == "lenet5" and "name: lenet5" in lenet["text"]
    assert "no zoo network named 'lenet6'" in jobs.run(setup, "zoo", {"name": "lenet6"})[
        "error"]["message"]
