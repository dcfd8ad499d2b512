"""`cnncli diagram`: the SVG's boxes and layout, the HTML page in a real browser."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cnncli.analysis.analyze import analyze
from cnncli.analysis.diagram import Layout, svg, tree

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
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         page.as_uri() + fragment], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


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
