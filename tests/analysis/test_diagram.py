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
    # the page draws each box where diagram.Layout placed it (it has no layout of its own)
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
    page itself never scrolls (one scroll pane), and every box is drawn where the SVG has it."""
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


#: a U-Net-like graph: three levels, each up block joins its skip (adaptive_avgpool stands in
#: for the upsampling), a head on the last level and an auxiliary one on the bottleneck
UNET3 = """\
name: unet3
description: a U-Net-like network with three levels
input: [3, 64, 64]
blocks:
  double:
    params: {out: ~}
    layers:
      - conv: {out: out, kernel: 3, padding: 1, bias: false}
      - bn
      - relu
      - conv: {out: out, kernel: 3, padding: 1, bias: false}
      - bn
      - relu
  down:
    params: {out: ~}
    layers:
      - maxpool: {kernel: 2, name: pool}
      - double: {out: out, name: conv}
  up:
    params: {out: ~}
    inputs: [x, skip]
    layers:
      - adaptive_avgpool: {like: skip, name: up}
      - conv: {out: out, kernel: 1, name: reduce}
      - concat: {from: [skip, reduce], name: cat}
      - double: {out: out, name: conv}
layers:
  - double: {out: 16, name: inc}
  - down: {out: 32, name: down1}
  - down: {out: 64, name: down2}
  - down: {out: 128, name: bottom}
  - up: {out: 64, from: [bottom, down2], name: up1}
  - up: {out: 32, from: [up1, down1], name: up2}
  - up: {out: 16, from: [up2, inc], name: up3}
  - conv: {out: 2, kernel: 1, name: outc}
  - conv: {out: 1, kernel: 1, name: aux, from: bottom}
outputs: [outc, aux]
"""

#: every read of a named output in UNET3 as (producer, reader) boxes, at full depth and at
#: depth 1 (where a block's inner reads end at its closed box, and reads inside it vanish)
READS_FULL = {("bottom", "up1"), ("down2", "up1.cat"), ("up1.reduce", "up1.cat"),
              ("up1", "up2"), ("down1", "up2.cat"), ("up2.reduce", "up2.cat"),
              ("up2", "up3"), ("inc", "up3.cat"), ("up3.reduce", "up3.cat"), ("bottom", "aux")}
READS_1 = {("bottom", "up1"), ("down2", "up1"), ("up1", "up2"), ("down1", "up2"),
           ("up2", "up3"), ("inc", "up3"), ("bottom", "aux")}


@pytest.fixture
def unet3(tmp_path: Path) -> str:
    path = tmp_path / "unet3.yaml"
    path.write_text(UNET3)
    return str(path)


def rects(root: ET.Element) -> dict[str, tuple[float, float, float, float, str]]:
    """data-path -> (x, y, w, h, class) of every box and open frame."""
    out = {}
    for g in root.iter(f"{NS}g"):
        cls = g.get("class", "").split(" ")[0]
        if cls in ("box", "frame"):
            r = g.find(f"{NS}rect")
            out[g.get("data-path")] = (*(float(r.get(k)) for k in ("x", "y", "width",
                                                                      "height")), cls)
    return out


def points(data: str) -> list[tuple[float, float]]:
    """The corners of an edge's path data (M x,y then H and V steps only)."""
    x, y = (float(v) for v in re.match(r"M([\d.]+),([\d.]+)", data).groups())
    out = [(x, y)]
    for step, value in re.findall(r"([HV])([\d.]+)", data):
        x, y = (float(value), y) if step == "H" else (x, float(value))
        out.append((x, y))
    return out


def on_border(p: tuple[float, float], r: tuple) -> bool:
    x, y, w, h, _ = r
    inside = x - 0.5 <= p[0] <= x + w + 0.5 and y - 0.5 <= p[1] <= y + h + 0.5
    return inside and min(abs(p[0] - x), abs(p[0] - x - w), abs(p[1] - y),
                          abs(p[1] - y - h)) < 0.5


def test_graph_reads_are_one_edge_each_from_producer_to_reader(unet3: str) -> None:
    a = analyze(unet3)
    for depth, want in ((None, READS_FULL), (1, READS_1)):
        root = ET.fromstring(svg(a, depth))
        edges = [p for p in root.iter(f"{NS}path") if p.get("class") == "read"]
        pairs = [(p.get("data-from"), p.get("data-to")) for p in edges]
        assert len(pairs) == len(want) and set(pairs) == want, depth
        placed = rects(root)
        for p in edges:  # it starts on the producer's box and ends on the reader's
            corners = points(p.get("d"))
            assert on_border(corners[0], placed[p.get("data-from")]), p.get("d")
            assert on_border(corners[-1], placed[p.get("data-to")]), p.get("d")
    for depth in (1, None):  # no edge runs through a box or frame but its ends' own
        root = ET.fromstring(svg(a, depth))
        crossings(root)
    labels = [t.text for t in ET.fromstring(svg(a, 1)).iter(f"{NS}text")
              if t.get("class") == "edge"]
    assert {"64x16x16", "32x32x32", "16x64x64"} <= set(labels)  # the read tensors' shapes


def crossings(root: ET.Element) -> None:
    """Assert that no read edge crosses a box or frame other than its ends and the frames
    they lie in (at full depth the skips go round the columns between, under them)."""
    placed = rects(root)
    for p in (p for p in root.iter(f"{NS}path") if p.get("class") == "read"):
        corners, ends = points(p.get("d")), (p.get("data-from"), p.get("data-to"))
        for path, (x, y, w, h, _) in placed.items():
            if any(e == path or e.startswith(path + ".") for e in ends):
                continue
            for (x0, y0), (x1, y1) in zip(corners, corners[1:]):
                crosses = (min(x0, x1) < x + w and max(x0, x1) > x
                           and min(y0, y1) < y + h and max(y0, y1) > y)
                assert not crosses, (ends, path)


def test_a_u_net_is_drawn_as_a_u_with_its_outputs_marked(unet3: str) -> None:
    """Depth 1: the encoder down the left, the decoder up the right from the bottleneck,
    each level beside the one whose skip it joins; the two outputs outlined and tagged."""
    root = ET.fromstring(svg(analyze(unet3), 1))
    placed = boxes(svg(analyze(unet3), 1))
    for left, right in (("bottom", "up1"), ("down2", "up2"), ("down1", "up3"),
                        ("inc", "outc"), ("(input)", "aux")):
        assert placed[left][1] == placed[right][1] and placed[left][0] < placed[right][0]
    ys = [placed[p][1] for p in ("up1", "up2", "up3", "outc")]
    assert ys == sorted(ys, reverse=True)  # the decoder climbs
    marks = [g for g in root.iter(f"{NS}g") if g.get("class") == "output-mark"]
    assert [g.get("data-path") for g in marks] == ["outc", "aux"]
    assert [g.find(f"{NS}text").text for g in marks] == ["output 1", "output 2"]
    header = next(g for g in root.iter(f"{NS}g") if g.get("class") == "header")
    assert "→ outputs outc 2x64x64, aux 1x8x8" in " ".join(
        t.text for t in header.iter(f"{NS}text"))


def test_explain_compare_and_diagram_take_a_graph(cli, unet3: str, tmp_path: Path) -> None:
    code, out, _ = cli("explain", unet3, "up1.cat", "aux", "up1")
    assert code == 0
    assert "up1.cat (concat)\n  inputs down2 64x16x16, up1.reduce 64x16x16 → output " \
        "128x16x16\n  output channels = 64 + 64 = 128\n" in out
    assert "  input 128x8x8 (from bottom) → output 1x8x8\n" in out
    assert "  input 128x8x8 (from bottom, down2) → output 64x16x16\n" in out
    a = analyze(unet3)
    aux = next(r for r in a.root.walk() if r.path == "aux")  # starts from bottom's field
    assert f"receptive field = {aux.rf.size[0]} + (1 − 1)" in out
    code, out, _ = cli("explain", unet3)
    assert code == 0 and "up1.cat ← down2, up1.reduce" in out
    assert cli("explain", unet3, "--format", "json")[0] == 0
    code, out, _ = cli("compare", unet3, "resnet18")
    assert code == 0 and "450,627" in out and " 2x64x64, 1x8x8 " in out  # both outputs
    code, out, _ = cli("compare", unet3, "resnet18", "--format", "json")
    assert json.loads(out)["networks"][0]["outputs"] == {"outc": [2, 64, 64], "aux": [1, 8, 8]}
    for name in ("u.svg", "u.html"):
        assert cli("diagram", unet3, "-o", str(tmp_path / name))[0] == 0
    code, out, _ = cli("diagram", unet3, "--depth", "2")  # on stdout: input, inc 6, 2 + 2 +
    # 2 for the down blocks, 4 for each up block, outc and aux
    assert code == 0 and len(boxes(out)) == 27 and out.count('class="read"') == 10


@pytest.mark.slow
@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium here (apt-get install "
                                            "chromium); .ci/run installs it where apt exists")
def test_graph_page_draws_the_edges_as_the_svg(cli, unet3: str, tmp_path: Path) -> None:
    """The page draws every read as the SVG's routing placed it, and as rendered each edge
    starts on its producer's box and ends on its reader's; a screenshot comes out."""
    a = analyze(unet3)
    for depth, want in ((None, READS_FULL), (1, READS_1)):
        page = tmp_path / f"u{depth}.html"
        args = ("--depth", str(depth)) if depth else ()
        assert cli("diagram", unet3, *args, "-o", str(page))[0] == 0
        dom = dump_dom(page, "#edges", tmp_path)
        layout = Layout(open_to(depth)).run(tree(a))
        assert placed_in(dom) == {n["path"]: (x, y) for n, x, y, _, _ in layout.boxes}
        drawn = re.findall(r'<path class="read" data-from="([^"]*)" data-to="([^"]*)" '
                           r'd="([^"]*)"', dom)
        assert [(f, t, points(d)) for f, t, d in drawn] == \
            [(f, t, points(d)) for f, t, d, _, _ in layout.reads]
        edges = json.loads(html.unescape(re.search(r'data-edges="([^"]*)"', dom)[1]))
        assert {(e["from"], e["to"]) for e in edges} == want and len(edges) == len(want)
        for e in edges:
            for end, box in ((e["start"], e["fromBox"]), (e["end"], e["toBox"])):
                r = (box["x"], box["y"], box["width"], box["height"], "")
                assert on_border((end["x"], end["y"]), r), e
        assert re.findall(r'class="output-mark" data-path="([^"]*)"', dom) == ["outc", "aux"]
    shot = tmp_path / "unet3.png"
    subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
                    "--window-size=1366,768", f"--screenshot={shot}",
                    (tmp_path / "u1.html").as_uri()], capture_output=True, timeout=60)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_joins_draw_one_edge_per_input(tmp_path: Path) -> None:
    """add, multiply and concat joins, one of them on the network's input: an edge from each
    input's box, and none from the entry above a join or a `from:` entry."""
    spec = tmp_path / "joins.yaml"
    spec.write_text("""\
name: joins
input: [3, 16, 16]
layers:
  - conv: {out: 4, kernel: 3, padding: 1, name: a}
  - conv: {out: 4, kernel: 3, padding: 1, name: b}
  - add: {from: [a, b], name: sum}
  - conv: {out: 4, kernel: 1, name: g, from: a}
  - sigmoid: {name: gate}
  - multiply: {from: [sum, gate], name: scaled}
  - concat: {from: [scaled, input], name: out}
""")
    root = ET.fromstring(svg(analyze(str(spec)), None))
    pairs = sorted((p.get("data-from"), p.get("data-to")) for p in root.iter(f"{NS}path")
                   if p.get("class") == "read")
    assert pairs == [("(input)", "out"), ("a", "g"), ("a", "sum"), ("b", "sum"),
                     ("gate", "scaled"), ("scaled", "out"), ("sum", "scaled")]
    placed, lines = rects(root), [points(p.get("d")) for p in root.iter(f"{NS}path")
                                  if p.get("class") is None]
    for reader in ("sum", "g", "scaled", "out"):  # no plain line ends on a reader's top
        x, y, w, _, _ = placed[reader]
        assert not any(x <= c[-1][0] <= x + w and c[-1][1] == y for c in lines), reader
    crossings(root)
    assert [t.text for t in root.iter(f"{NS}text") if t.get("class") == "op"] == \
        ["⊕ add", "⊗ multiply", "concat"]


def test_the_page_carries_a_drawing_per_block_a_click_opens_or_shuts(monkeypatch) -> None:
    """The HTML page lays out nothing: it carries diagram.Layout's drawings, one per block a
    click opens (with the blocks it sits in) or shuts, as long as they fit the budget."""
    from cnncli.analysis import diagram_html

    a = analyze("resnet18")
    at1 = diagram_html.drawings(a, 1)
    blocks = {p for p, n in at1["nodes"].items() if n["block"] and p}
    assert {"layer1", "layer1.0", "layer4.1"} <= blocks
    assert set(at1["states"]) == {""} | blocks  # at depth 1 every block starts shut
    want = Layout(lambda n: n["path"] in ("layer1", "layer1.0")).run(tree(a))
    assert at1["states"]["layer1.0"]["boxes"] == [[n["path"], x, y, w, h]
                                                  for n, x, y, w, h in want.boxes]
    full = diagram_html.drawings(a, None)
    assert set(full["states"]) == {""} | {f"-{p}" for p in blocks}  # all open: each shuts
    shut = Layout(lambda n: n["path"] != "layer2").run(tree(a))
    assert full["states"]["-layer2"]["frames"] == [[n["path"], x, y, w, h]
                                                   for n, x, y, w, h in shut.frames]
    monkeypatch.setattr(diagram_html, "BUDGET", len(json.dumps(at1["states"][""])) + 10)
    assert set(diagram_html.drawings(a, 1)["states"]) == {""}  # over the budget: none more
