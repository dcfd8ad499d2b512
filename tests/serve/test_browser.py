"""The playground in a real browser: Playwright drives the system Chromium against a real
`cnncli serve`. Typing updates the totals to `cnncli summary --format json`'s, a typo shows
its located error at its line with the last analysis greyed, a share link reproduces the
spec, the diagram has a box per layer and blocks open on a click. Screenshots go to
$CNNCLI_SHOTS (default /tmp/serve-shots) to look at."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port

from cnncli.analysis.analyze import Analysis, analyze_network
from cnncli.spec.load import load_file

BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(b)), None)
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev "
                                                             "extra has it)")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    BROWSER is None, reason="no Chromium here (apt-get install chromium); .ci/run installs it "
                            "where apt exists")]
SHOTS = Path(os.environ.get("CNNCLI_SHOTS", "/tmp/serve-shots"))

SPEC = """\
name: small_resnet
input: [3, 32, 32]
params: {width: 16}
blocks:
  unit:
    residual:
      layers:
        - conv: {out: width, kernel: 3, padding: 1}
        - relu
        - conv: {out: width, kernel: 3, padding: 1}
layers:
  - conv: {name: stem, out: width, kernel: 3, padding: 1}
  - unit: {name: block1}
  - unit: {name: block2}
  - global_avgpool
  - flatten
  - linear: {name: head, out: 10}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("browser")
    (folder / "net.yaml").write_text(SPEC)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cnncli", "serve", str(folder / "net.yaml"),
                             "--port", str(port)], stdout=subprocess.PIPE, text=True)
    url = re.search(r"http://\S+", proc.stdout.readline())[0]
    yield url, folder
    proc.terminate()
    proc.wait(timeout=10)
    proc.stdout.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=BROWSER, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    # bypass_csp: Playwright's own polling (wait_for_function) evaluates strings, which the
    # page's policy rightly forbids to anything else
    context = browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server[0])
    page.wait_for_selector("body[data-ready]")
    yield page
    context.close()
    assert errors == []  # the page's script never threw


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def totals(page) -> dict:
    return json.loads(page.get_attribute("#cards", "data-totals"))


def summary_json(cli, folder: Path, text: str) -> dict:
    (folder / "typed.yaml").write_text(text)
    code, out, err = cli("summary", str(folder / "typed.yaml"), "--format", "json")
    assert code == 0, err
    return json.loads(out)


def wait_for_answer(page, before: str) -> None:
    """Until the totals differ from `before` (the debounced request came back)."""
    page.wait_for_function("t => document.querySelector('#cards').dataset.totals !== t", arg=before)


def test_typing_updates_the_totals_to_summary_json(page, server, cli) -> None:
    assert totals(page) == summary_json(cli, server[1], SPEC)["totals"]
    before = page.get_attribute("#cards", "data-totals")
    page.click("#source")
    page.keyboard.press("Control+End")
    page.keyboard.type("  - relu\n  - linear: {out: 5}\n")
    wait_for_answer(page, before)
    typed = page.input_value("#source")
    assert typed == SPEC + "  - relu\n  - linear: {out: 5}\n"
    assert totals(page) == summary_json(cli, server[1], typed)["totals"]
    assert page.text_content(".card[data-key=params] b") == "9.95 K"  # 9,898 + 55
    shot(page, "typed")


def test_a_slider_sets_a_parameter(page, server, cli) -> None:
    before = page.get_attribute("#cards", "data-totals")
    page.fill("input[data-param=width]", "32")  # a range input takes fill as a value
    wait_for_answer(page, before)
    want = summary_json(cli, server[1], SPEC.replace("width: 16", "width: 32"))["totals"]
    assert totals(page) == want


def test_a_typo_shows_the_located_error_at_its_line(page) -> None:
    before = page.get_attribute("#cards", "data-totals")
    page.fill("#source", SPEC.replace("kernel: 3, padding: 1}\n        - relu",
                                      "kernl: 3, padding: 1}\n        - relu"))
    page.wait_for_selector("#error:not([hidden])")
    assert page.text_content("#error").endswith(
        "net.yaml:8:30: layer block1.0: conv has no option 'kernl' (did you mean 'kernel'?); "
        "its options: out, kernel, stride, padding, dilation, groups, bias, connections")
    assert page.text_content("#gutter .bad") == "8"  # the line number, marked
    assert page.text_content("#highlight .line-bad").startswith("        - conv: {out")
    assert "stale" in page.get_attribute("#result", "class")  # the last analysis, greyed
    assert page.get_attribute("#cards", "data-totals") == before
    shot(page, "typo")
    page.fill("#source", SPEC)
    page.wait_for_selector("#error", state="hidden")
    assert page.locator("#gutter .bad").count() == 0


def test_a_share_link_reproduces_the_spec(page, browser) -> None:
    edited = SPEC.replace("width: 16", "width: 24") + "# shared ✓ 100 %\n"
    page.fill("#source", edited)
    page.click("#share")
    page.wait_for_function("location.hash.startsWith('#spec=')")
    link = page.evaluate("location.href")
    assert "width" not in link and len(link) < len(edited)  # compressed, not plain
    other = browser.new_page(bypass_csp=True)
    other.goto(link)
    other.wait_for_selector("body[data-ready]")
    assert other.input_value("#source") == edited
    assert json.loads(other.get_attribute("#cards", "data-totals"))["params"] == 24 * 27 + 24 + \
        4 * (24 * 24 * 9 + 24) + 24 * 10 + 10
    other.close()


def test_the_diagram_has_a_box_per_layer_and_blocks_open(page) -> None:
    drawn = set(page.eval_on_selector_all("#drawing g.box", "gs => gs.map(g => g.dataset.path)"))
    network = analyze_text(SPEC)
    assert drawn == {"(input)"} | {r.path for r in network.root.frontier(None)}
    page.select_option("#depth", "1")
    page.wait_for_selector("#drawing g.box[data-path=block1]")
    assert page.locator("#drawing g.frame").count() == 0
    assert page.text_content("#drawing g.box[data-path=block1] text").startswith("▸ block1")
    page.click("#drawing g.box[data-path=block1]")
    page.wait_for_selector("#drawing g.frame[data-path=block1]")
    boxes = page.eval_on_selector_all("#drawing g.box", "gs => gs.map(g => g.dataset.path)")
    assert {"block1.0", "block1.1", "block1.2", "block1.(add)", "block2"} <= set(boxes)
    page.wait_for_selector("#explain-out .fig")  # the click explained the block too
    assert page.text_content("#explain-out pre").startswith("block1 (unit)\n16×32×32 → 16×32×32")
    shot(page, "opened")


def analyze_text(text: str) -> Analysis:
    return analyze_network(load_file("net.yaml", None, text=text, roots=()))


def test_zoo_picker_compare_and_downloads(page, cli) -> None:
    """Open a zoo network to edit, compare it with its previous version, download the table
    as `cnncli summary -f csv` writes it."""
    before = page.get_attribute("#cards", "data-totals")
    page.select_option("#zoo", "lenet5")
    wait_for_answer(page, before)
    assert "\nname: lenet5\n" in page.input_value("#source")  # the zoo's copy, `cnncli spec`
    assert totals(page)["params"] == 61_706
    before = page.get_attribute("#cards", "data-totals")
    page.fill("input[data-param=classes]", "20")
    wait_for_answer(page, before)
    before = page.get_attribute("#cards", "data-totals")
    page.fill("#source", page.input_value("#source").replace("out: 120", "out: 60"))
    wait_for_answer(page, before)
    page.click("#tabs button[data-tab=compare]")
    page.click("#compare-run")
    page.wait_for_selector("#compare-out table")
    rows = page.eval_on_selector_all("#compare-out tr", "rs => rs.map(r => r.cells[0].textContent)")
    assert rows == ["Network", "previous version", "this spec"]  # ratios are to the first
    with page.expect_download() as download:
        page.click("[data-download=csv]")
    code, want, _ = cli("summary", "lenet5", "--set", "classes=20", "-f", "csv")
    assert code == 0
    got = Path(download.value.path()).read_text()
    assert got.splitlines()[0] == want.splitlines()[0]
    assert len(got.splitlines()) == len(want.splitlines())  # every layer, as the CLI writes
    shot(page, "compare")
