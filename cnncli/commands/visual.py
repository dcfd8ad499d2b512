"""See, compare and explain networks: diagram, compare, explain. They never import torch."""

from __future__ import annotations

import click

from .options import analysis_for, depth_option, emit


@click.command()
@click.argument("spec")
@click.argument("paths", nargs=-1, metavar="[LAYER-PATH]...")
@click.option("--set", "overrides", metavar="NAME=VALUE", multiple=True,
              help="Override a spec parameter (repeatable), e.g. --set classes=10.")
@click.option("--input", "input_shape", metavar="CxHxW", help="Override the input shape.")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
@depth_option(None, "Without a path: collapse blocks nested deeper than this.")
def explain(spec: str, paths: tuple[str, ...], overrides: tuple[str, ...],
            input_shape: str | None, fmt: str, depth: int | None) -> None:
    """The arithmetic behind every figure, with the numbers filled in.

    With LAYER-PATHs (as `cnncli summary` prints them), each figure of those layers or
    blocks; without, the whole network compactly, then design notes with its own numbers.
    """
    from ..analysis import explain as ex

    a = analysis_for(spec, overrides, input_shape, 1, "fp32")
    rows = ex.find_rows(a, paths) if paths else None
    if fmt == "json":
        emit(fmt, ex.explain_json(a, rows))
    elif rows is not None:
        emit(fmt, ex.explain_rows(a, rows))
    else:
        emit(fmt, ex.explain_network(a, depth))
