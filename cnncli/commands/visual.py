"""See, compare and explain networks: diagram, compare, explain. They never import torch."""

from __future__ import annotations

from pathlib import Path

import click

from ..analysis.analyze import DTYPE_BYTES
from ..analysis.compare import SORT_KEYS
from ..analysis.explain import FORMATS as EXPLAIN_FORMATS
from ..errors import UsageError
from .options import (
    analysis_for,
    check_new_file,
    complete_spec,
    depth_option,
    emit,
    format_option,
    override_options,
    parse_sets,
    predicted_time,
    spec_options,
    time_option,
    wide_option,
    write_new_file,
)


@click.command()
@click.argument("spec", shell_complete=complete_spec)
@click.argument("paths", nargs=-1, metavar="[LAYER-PATH]...")
@override_options
@click.option("--format", "-f", "fmt", type=click.Choice(EXPLAIN_FORMATS), default="text",
              show_default=True, help="Output format.")
@depth_option(None, "Without a path: collapse blocks nested deeper than this; default: "
                    "every layer.")
@time_option("With LAYER-PATHs: each one's time at batch 1, its arithmetic, and whether it "
             "is compute- or memory-bound")
@wide_option
def explain(spec: str, paths: tuple[str, ...], overrides: tuple[str, ...],
            input_shape: str | None, fmt: str, depth: int | None,
            time_profile: str | None) -> None:
    """The arithmetic behind every figure, with the numbers filled in.

    With LAYER-PATHs (as `cnncli summary` prints them), each figure of those layers or
    blocks; without, the whole network compactly, then design notes with its own numbers.
    """
    from ..analysis import explain as ex

    if time_profile is not None and not paths:
        raise UsageError("--time explains the layers named: give LAYER-PATHs (summary --time "
                         "shows every layer's)")
    a = analysis_for(spec, overrides, input_shape, 1, "fp32")
    rows = ex.find_rows(a, paths) if paths else None
    timing = predicted_time(a, time_profile)
    if fmt == "json":
        emit(fmt, ex.explain_json(a, rows, timing))
    elif rows is not None:
        emit(fmt, ex.explain_rows(a, rows, timing))
    else:
        emit(fmt, ex.explain_network(a, depth))


@click.command()
@click.argument("specs", nargs=-1, required=True, shell_complete=complete_spec)
@click.option("--sweep", "sweeps", metavar="NAME=V1,V2,...", multiple=True,
              help="Tabulate each spec over these parameter values (repeatable: a grid); "
                   "default: none.")
@override_options
@click.option("--batch", "-b", type=click.IntRange(1, 10**9), default=1, show_default=True,
              help="Batch size; work and activations scale with it.")
@click.option("--dtype", type=click.Choice(list(DTYPE_BYTES)), default="fp32",
              show_default=True, help="Element type for memory figures.")
@format_option
@depth_option(None, "Also compare rows at this depth, aligned by path where paths match; "
                    "default: totals only.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also draw the networks as labelled points to FILE.png (needs matplotlib); "
                   "default: no plot.")
@click.option("--axes", "axes_text", default="params,macs", show_default=True, metavar="X,Y",
              help="Columns of the plot: params, macs, flops, activations, memory.")
@click.option("--force", is_flag=True, help="Overwrite the --plot file if it exists.")
@time_option("Add each network's predicted forward time at the batch")
@click.option("--sort", "sort_key", type=click.Choice(SORT_KEYS), default=None,
              help="Rank the networks by this total, smallest (fastest) first; time needs "
                   "--time. Default: in the order given.")
def compare(specs: tuple[str, ...], sweeps: tuple[str, ...], overrides: tuple[str, ...],
            input_shape: str | None, batch: int, dtype: str, fmt: str, depth: int | None,
            plot_file: Path | None, axes_text: str, force: bool, time_profile: str | None,
            sort_key: str | None) -> None:
    """Networks side by side: params, MACs, FLOPs, activations, memory, output, receptive
    field, each with its ratio to the first.

    SPECS are spec files or zoo names; `--sweep width=8,16,32` tabulates one spec over
    parameter values.
    """
    from ..analysis import compare as cmp

    axes = cmp.parse_axes(axes_text)
    if plot_file is not None:
        check_new_file(plot_file, force)
    if sort_key == "time" and time_profile is None:
        raise UsageError("--sort time ranks by predicted time: add --time [PROFILE]")
    items = cmp.entries(specs, parse_sets(overrides), sweeps, input_shape, batch, dtype)
    for e in items:
        timing = predicted_time(e.analysis, time_profile)
        e.time_ms = None if timing is None else timing.total_ms
    if sort_key is not None:
        items = cmp.ranked(items, sort_key)
    if plot_file is not None:
        cmp.plot(items, plot_file, axes)
    if fmt == "json":
        emit(fmt, cmp.compare_json(items, depth))
    elif fmt == "csv":
        emit(fmt, cmp.compare_csv(items))
    elif fmt == "markdown":
        emit(fmt, cmp.compare_markdown(items, depth))
    else:
        emit(fmt, cmp.compare_renderables(items, depth))
    if plot_file is not None:
        click.echo(cmp.plot_note(items, plot_file, axes), err=True)


@click.command()
@spec_options
@depth_option(None, "Draw blocks nested deeper than this as one box, like summary --depth; "
                    "default: every layer.")
@click.option("--output", "-o", "target", type=click.Path(dir_okay=False, path_type=Path),
              help="FILE.svg (a standalone drawing) or FILE.html (a page with details, blocks "
                   "that open and close, and the summary table); default: SVG on stdout.")
@click.option("--force", is_flag=True, help="Overwrite the --output file if it exists.")
def diagram(spec: str, overrides: tuple[str, ...], input_shape: str | None, batch: int,
            dtype: str, depth: int | None, target: Path | None, force: bool) -> None:
    """Draw the network: boxes with name, type and output shape, coloured by share of MACs."""
    from ..analysis import diagram as dg

    if target is not None and target.suffix.lower() not in (".svg", ".html", ".htm"):
        raise UsageError(f"--output {target}: write a .svg or .html file")
    if target is not None:
        check_new_file(target, force)
    a = analysis_for(spec, overrides, input_shape, batch, dtype)
    if target is None:
        click.echo(dg.svg(a, depth), nl=False)
        return
    if target.suffix.lower() == ".svg":
        text = dg.svg(a, depth)
    else:
        from ..analysis import diagram_html

        text = diagram_html.page(a, depth)
    write_new_file(target, text, force)  # a temporary name, renamed when whole
    click.echo(f"wrote {target}", err=True)
