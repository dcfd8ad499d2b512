"""`cnncli diagram`: the SVG's boxes and layout, the HTML page in a real browser."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import ROOT

from cnncli.analysis.analyze import analyze
from cnncli.analysis.diagram import Layout, open_to, svg, tree
from cnncli.analysis.zoolist import records

NS = "{http://www.w3.org/2000/svg}"
BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(b)), None)


def boxes(text: str) -> dict[str, tuple[float, float]]:
    """data-path -> (x, y) of every box in an SVG document, read with an XML parser."""
    root = ET.fromstring(text)
    return {g.get("data-path"): (float(g.find(f"{NS}rect").get("x")),
                                 float(g.find(f"{NS}rect").get("y")))
            for g in root.iter(f"{NS}g") if g.get("class", "").startswith("box")}


def test_svg_has_a_box_per_row_at_the_depth() -> None:
    a = analyze("googlenet")
    one = boxes(svg(a, 1))
    assert set(one) == {"(input)"} | {r.path for r in a.root.frontier(1)}
    two = ET.fromstring(svg(a, 2))
    frames = {g.get("data-path") for g in two.iter(f"{NS}g") if g.get("class") == "frame"}
    assert "inception3a" in frames
    assert {"inception3a.branch1", "inception3a.branch2", "inception3a.(concat)"} <= \
        set(boxes(svg(a, 2)))
    title = next(g for g in two.iter(f"{NS}g") if g.get("data-path") == "conv3.conv")
    assert title.find(f"{NS}title").text.splitlines()[:3] == [
        "conv3.conv (conv)", "output 192x56x56", "params 110,784"]


def test_residual_shortcut_beside_the_body_and_long_sequences_wrap() -> None:
    a = analyze("resnet18")
    placed = boxes(svg(a, None))
    conv1, side = placed["layer2.0.conv1"], placed["layer2.0.downsample.0"]
    assert side[0] > conv1[0] and side[1] == conv1[1]  # beside the body, same height
    assert placed["layer2.0.(add)"][1] > placed["layer2.0.bn2"][1]
    xs = {round(x) for x, _ in boxes(svg(analyze("resnet152"), 2)).values()}
    assert len(xs) > 3  # layer3's 36 blocks wrap into columns


def texts(root: ET.Element, path: str) -> list[str]:
    """The texts drawn in the box (or frame) of a layer path."""
    g = next(g for g in root.iter(f"{NS}g") if g.get("data-path") == path)
    return [t.text or "" for t in g.iter(f"{NS}text")]


def test_svg_has_an_input_node_a_title_with_the_totals_and_a_legend() -> None:
    a = analyze("resnet50")
    root = ET.fromstring(svg(a, 1))
    assert texts(root, "(input)") == ["input", "input · 3x224x224"]
    header = next(g for g in root.iter(f"{NS}g") if g.get("class") == "header")
    heads = [t.text for t in header.iter(f"{NS}text") if t.get("class") == "head"]
    assert " ".join(heads) == ("resnet50 — ResNet-50: bottleneck blocks, 3-4-6-3, stride on "
                               "the 3x3 (torchvision)")  # whole, on one line or two
    lines = [t.text for t in header.iter(f"{NS}text") if t.get("class") != "head"]
    assert lines[0] == ("25,557,032 params (25.56 M) · 4,089,184,256 MACs (4.09 G) · input "
                        "3x224x224 → output 1000 · blocks below depth 1 closed")
    t = a.totals()
    assert f"{t['params']:,} params" in lines[0] and f"{t['macs']:,} MACs" in lines[0]
    assert lines[1:] == ["share of the MACs (colour, red bar):", "0%", "1%", "5%", "25%",
                         "100%", "input", "add / concat", "block", "identity shortcut"]
    # the input node is drawn first, above conv1, and joined to it
    placed = boxes(svg(a, 1))
    assert placed["(input)"][1] < placed["conv1"][1]


def test_sequential_blocks_go_top_to_bottom() -> None:
    """ResNet-50 at full depth: each stage's blocks one under another, in one column; only
    a block's body and its shortcut side by side."""
    root = ET.fromstring(svg(analyze("resnet50"), None))
    frames = {g.get("data-path"): (float(g.find(f"{NS}rect").get("x"))
                                   + float(g.find(f"{NS}rect").get("width")) / 2,
                                   float(g.find(f"{NS}rect").get("y")))
              for g in root.iter(f"{NS}g") if g.get("class") == "frame"}
    for stage, blocks in (("layer1", 3), ("layer2", 4), ("layer3", 6), ("layer4", 3)):
        xs = {frames[f"{stage}.{i}"][0] for i in range(blocks)}  # centres: one column
        ys = [frames[f"{stage}.{i}"][1] for i in range(blocks)]
        assert len(xs) == 1 and ys == sorted(ys) and len(set(ys)) == blocks, stage
    placed = boxes(svg(analyze("resnet50"), None))
    assert placed["layer1.0.downsample.0"][1] == placed["layer1.0.conv1"][1]
    assert placed["layer1.0.conv1"][1] < placed["layer1.0.bn1"][1] < placed["layer1.0.conv2"][1]


def test_long_networks_wrap_into_a_bounded_picture() -> None:
    """DenseNet-121 at full depth (was one 15,016-pixel strip): both sides bounded, about
    as wide as tall; its empty concat branches are dashed lanes, not boxes."""
    root = ET.fromstring(svg(analyze("densenet121"), None))
    width, height = float(root.get("width")), float(root.get("height"))
    assert width < 4000 and height < 4000 and 0.6 < width / height < 1.7
    placed = boxes(svg(analyze("densenet121"), None))
    assert "features.denseblock1.denselayer1.input" not in placed
    assert len({round(x) for x, _ in placed.values()}) > 8  # many columns


@pytest.mark.slow
def test_no_zoo_network_at_full_depth_is_drawn_as_a_strip() -> None:
    """At most 1:2.5 either way and 7000 px a side: the column height adapts to each network
    (ResNet-18, its stages one column each, is the tallest at about 1:2.25)."""
    shapes = {}
    for record in records():
        root = ET.fromstring(svg(analyze(record["name"]), None))
        shapes[record["name"]] = float(root.get("width")), float(root.get("height"))
    strips = {n: (w, h) for n, (w, h) in shapes.items()
              if not (0.4 < w / h < 2.5 and max(w, h) < 7000)}
    assert strips == {} and len(shapes) > 40


def test_labels_are_shortened_at_dots_never_inside_a_name() -> None:
    root = ET.fromstring(svg(analyze("densenet121"), None))
    shortened = 0
    for g in root.iter(f"{NS}g"):
        if g.get("class") != "box" or g.get("data-path").endswith(")"):
            continue
        path, name = g.get("data-path"), g.find(f"{NS}text").text
        if name != path:
            assert name.startswith("…") and path.endswith("." + name[1:]), (path, name)
            shortened += 1
    assert shortened > 100  # "…denselayer12.conv1" for features.denseblock3.denselayer12.conv1
    title = texts(root, "features.denseblock3.denselayer12")[0]
    assert title == "…denselayer12 (dense_layer)"


def test_no_absolute_path_in_the_drawings(cli, tmp_path: Path) -> None:
    """A drawing is shared: it names the spec's file, not the folder it was in."""
    spec = tmp_path / "private" / "mynet.yaml"
    spec.parent.mkdir()
    spec.write_text((ROOT / "docs/examples/tiny_resnet.yaml").read_text())
    for name in ("n.svg", "n.html"):
        assert cli("diagram", str(spec), "-o", str(tmp_path / name))[0] == 0
        text = (tmp_path / name).read_text()
        assert str(tmp_path) not in text and "mynet.yaml:" in text
    for name in ("z.svg", "z.html"):
        assert cli("diagram", "resnet18", "-o", str(tmp_path / name))[0] == 0
        text = (tmp_path / name).read_text()
        assert str(ROOT) not in text and "resnet.yaml:" in text


def test_diagram_writes_svg_and_html_files(cli, tmp_path: Path) -> None:
    code, out, err = cli("diagram", "lenet5", "-o", str(tmp_path / "n.svg"))
    assert (code, out, err) == (0, "", f"wrote {tmp_path / 'n.svg'}\n")
    assert set(boxes((tmp_path / "n.svg").read_text())) >= {"c1", "s2", "output"}
    code, _, _ = cli("diagram", "lenet5", "-o", str(tmp_path / "n.html"))
    page = (tmp_path / "n.html").read_text()
    # self-contained: no address but the SVG namespace, nothing loaded from elsewhere
    assert set(re.findall(r"https?://[^\s\"'<>]*", page)) == {"http://www.w3.org/2000/svg"}
    assert "<link" not in page and " src=" not in page
    assert "<td>c1</td><td>conv</td><td>6x28x28</td><td class=n>156</td>" in page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.html", "n.svg"]


def test_bad_output_names(cli, tmp_path: Path) -> None:
    code, out, err = cli("diagram", "lenet5", "-o", str(tmp_path / "n.png"))
    assert (code, out) == (2, "")
    assert err == f"error: --output {tmp_path / 'n.png'}: write a .svg or .html file\n"
    assert list(tmp_path.iterdir()) == []


def dump_dom(page: Path, fragment: str, tmp_path: Path) -> str:
    result = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--window-size=1366,768", "--hide-scrollbars",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         page.as_uri() + fragment], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.slow
@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium here (apt-get install "
                                            "chromium); .ci/run installs it where apt exists")
def test_html_page_in_a_real_browser(cli, tmp_path: Path) -> None:
    page = tmp_path / "googlenet.html"
    assert cli("diagram", "googlenet", "--depth", "1", "-o", str(page))[0] == 0
    a = analyze("googlenet")
    dom = dump_dom(page, "", tmp_path)
    drawn = set(re.findall(r'<g class="box[^"]*" data-path="([^"]*)"', dom))
    assert drawn == {"(input)"} | {r.path for r in a.root.frontier(1)}
    assert 'data-path="inception3a.branch1"' not in dom
    dom = dump_dom(page, "#expand=inception3a", tmp_path)
    assert '<g class="frame" data-path="inception3a" data-open="true">' in dom
    opened = set(re.findall(r'<g class="box[^"]*" data-path="([^"]*)"', dom))
    assert {"inception3a.branch1", "inception3a.branch4", "inception3a.(concat)"} <= opened
    # the page's script lays out exactly as the SVG does
    layout = Layout(lambda n: n["depth"] < 1 or n["path"] == "inception3a").run(tree(a))
    want = {n["path"]: (x, y) for n, x, y, _, _ in layout.boxes}
    got = {m[0]: (float(m[1]), float(m[2])) for m in re.findall(
        r'<g class="box[^"]*" data-path="([^"]*)"><rect x="([\d.]+)" y="([\d.]+)"', dom)}
    assert got == want


def placed_in(dom: str) -> dict[str, tuple[float, float]]:
    return {m[0]: (float(m[1]), float(m[2])) for m in re.findall(
        r'<g class="box[^"]*" data-path="([^"]*)"><rect x="([\d.]+)" y="([\d.]+)"', dom)}


@pytest.mark.slow
@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium here (apt-get install "
                                            "chromium); .ci/run installs it where apt exists")
def test_full_depth_page_fits_a_laptop_window_and_lays_out_as_the_svg(cli,
                                                                      tmp_path: Path) -> None:
    """DenseNet-121 at full depth (wrapped columns, dashed lanes) in a 1366x768 window: the
    page itself never scrolls (one scroll pane), and the script places every box as the SVG."""
    page = tmp_path / "densenet121.html"
    assert cli("diagram", "densenet121", "-o", str(page))[0] == 0
    dom = dump_dom(page, "#measure", tmp_path)
    measure = json.loads(html.unescape(re.search(r'data-measure="([^"]*)"', dom)[1]))
    width, height = measure["window"]  # the browser's own bars take some of the 768
    assert width == 1366 and 600 <= height <= 768
    assert measure["width"] <= width and measure["height"] <= height  # the page never scrolls
    assert measure["scrolls"] == ["scroll"]  # the drawing's pane, and nothing else
    layout = Layout(open_to(None)).run(tree(analyze("densenet121")))
    assert placed_in(dom) == {n["path"]: (x, y) for n, x, y, _, _ in layout.boxes}
