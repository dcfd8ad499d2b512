"""Plots fit for a report: K/M/G ticks, a title, every text inside the figure."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from cnncli.analysis import figures

pytest.importorskip("matplotlib")
from conftest import ROOT
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.text import Text  # noqa: E402

COUNT_TICK = re.compile(r"^\d+(\.\d+)? [KMG]$|^\d+(\.\d+)?$")


@pytest.fixture
def saved(monkeypatch) -> list[Any]:
    """The figures the commands save (the file is still written)."""
    kept: list[Any] = []
    real = figures.save

    def keep(figure: Any, target: Path, fmt: str | None = None) -> None:
        real(figure, target, fmt)
        kept.append(figure)

    monkeypatch.setattr(figures, "save", keep)
    return kept


def tick_texts(axis: Any) -> list[str]:
    """The major tick labels drawn (within the axis' view)."""
    low, high = sorted(axis.get_view_interval())
    return [t.get_text() for v, t in zip(axis.get_majorticklocs(), axis.get_ticklabels())
            if low <= v <= high and t.get_text()]


def test_tick_is_human_style() -> None:
    assert [figures.tick(v) for v in (0, 950, 1500, 2.5e7, 1e8, 4.09e9)] == [
        "0", "950", "1.5 K", "25 M", "100 M", "4.09 G"]


def inside(inner: Any, outer: Any) -> bool:
    return (outer.x0 - 1 <= inner.x0 and inner.x1 <= outer.x1 + 1
            and outer.y0 - 1 <= inner.y0 and inner.y1 <= outer.y1 + 1)


@pytest.mark.slow
def test_compare_plot_has_kmg_axes_a_title_and_labels_inside(cli, saved,
                                                               tmp_path: Path) -> None:
    target = tmp_path / "nets.png"
    code, _, err = cli("compare", "lenet5", "alexnet", "resnet18", "resnet50", "vgg16",
                       "--plot", str(target))
    assert code == 0, err
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (figure,) = saved
    (ax,) = figure.axes
    assert ax.get_title(loc="left") == ("MACs against Params: lenet5, alexnet, resnet18, "
                                        "resnet50, vgg16\neach at its own input size, batch "
                                        "1, fp32")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Params (count)", "MACs (count)")
    for axis in (ax.xaxis, ax.yaxis):
        labels = tick_texts(axis)
        assert labels and all(COUNT_TICK.match(t) for t in labels), labels
        assert any(t.endswith((" K", " M", " G")) for t in labels)
        assert axis.get_offset_text().get_text() == ""  # no "1e7" above the axis
    assert "100 M" in tick_texts(ax.xaxis) and "1 G" in tick_texts(ax.yaxis)
    canvas = FigureCanvasAgg(figure)  # lay out and measure as the saved PNG was
    canvas.draw()
    renderer = canvas.get_renderer()
    frame, page = ax.get_window_extent(renderer), figure.bbox
    notes = [t for t in ax.texts]
    assert sorted(t.get_text() for t in notes) == ["alexnet", "lenet5", "resnet18",
                                                   "resnet50", "vgg16"]
    boxes = [t.get_window_extent(renderer) for t in notes]
    assert all(inside(b, frame) for b in boxes)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    titles = [c for c in ax.get_children() if isinstance(c, Text) and c.get_text()]
    for text in (ax.xaxis.label, ax.yaxis.label, *titles):
        assert inside(text.get_window_extent(renderer), page), text.get_text()


def test_sweep_plot_names_the_swept_parameter(cli, saved, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    code, _, err = cli("compare", "docs/examples/tiny_resnet.yaml", "--sweep", "width=8,16,32",
                       "--plot", str(tmp_path / "sweep.png"))
    assert code == 0, err
    (ax,) = saved[0].axes
    title = ax.get_title(loc="left")
    assert title == "MACs against Params: tiny_resnet over width\ninput 3x32x32, batch 1, fp32"
    assert tick_texts(ax.xaxis)[:3] == ["0", "100 K", "200 K"]
    assert "100 M" in tick_texts(ax.yaxis)


def test_training_curves_have_labels_percent_and_a_title(cli, saved, tmp_path: Path) -> None:
    run = tmp_path / "lenet5"
    run.mkdir()
    rows = [{"epoch": e, "train_loss": 1.2 / e, "train_acc": 0.7 + 0.08 * e,
             "val_loss": 0.3 / e, "val_acc": 0.9 + 0.02 * e} for e in (1, 2, 3)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out, err = cli("plot", str(run))
    assert code == 0, err
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    (figure,) = saved
    loss, acc = figure.axes
    assert figure.get_suptitle() == "Training curves: lenet5, 3 epochs"
    assert (loss.get_ylabel(), acc.get_ylabel(), acc.get_xlabel()) == ("loss", "accuracy",
                                                                       "epoch")
    assert all(t.endswith("%") for t in tick_texts(acc.yaxis))
    assert tick_texts(acc.xaxis) == ["1", "2", "3"]
