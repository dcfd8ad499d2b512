"""Options and output helpers shared by every family of commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..errors import UsageError


def spec_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """SPEC plus the options that change what is analysed: --set, --input, --batch, --dtype."""
    f = click.option("--dtype", type=click.Choice(["fp32", "fp16", "bf16", "fp64"]),
                     default="fp32", show_default=True,
                     help="Element type for memory figures.")(f)
    f = click.option("--batch", "-b", type=click.IntRange(1, 10**9), default=1,
                     show_default=True, help="Batch size; work and activations scale with it.")(f)
    f = click.option("--input", "input_shape", metavar="CxHxW",
                     help="Override the spec's input shape, e.g. 3x227x227.")(f)
    f = click.option("--set", "overrides", metavar="NAME=VALUE", multiple=True,
                     help="Override a spec parameter (repeatable), e.g. --set classes=10.")(f)
    return click.argument("spec")(f)


def format_option(f: Callable[..., Any]) -> Callable[..., Any]:
    from ..analysis.report import FORMATS

    return click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="table",
                        show_default=True, help="Output format.")(f)


def depth_option(default: int | None, help_text: str) -> Callable[..., Any]:
    return click.option("--depth", "-d", type=click.IntRange(1, 1000), default=default,
                        show_default=default is not None, help=help_text)


def parse_sets(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set {pair!r}: write NAME=VALUE, e.g. --set classes=10")
        if name.strip() in out:
            raise UsageError(f"--set {name.strip()} is given twice")
        out[name.strip()] = value
    return out


def analysis_for(spec: str, overrides: tuple[str, ...], input_shape: str | None, batch: int,
                 dtype: str) -> Any:
    from ..analysis.analyze import analyze

    return analyze(spec, overrides=parse_sets(overrides), input=input_shape, batch=batch,
                   dtype=dtype)


def emit(fmt: str, text_or_renderables: Any) -> None:
    """Print text as is; print rich renderables through a console sized for pipes too."""
    if isinstance(text_or_renderables, str):
        click.echo(text_or_renderables, nl=not text_or_renderables.endswith("\n"))
        return
    from rich.console import Console

    from ..analysis.report import TextTable

    console = Console(soft_wrap=False, highlight=False)
    if not console.is_terminal:  # a pipe or file: never squeeze the columns
        console = Console(width=200, soft_wrap=False, highlight=False)
    for item in text_or_renderables:
        if isinstance(item, TextTable):
            console.file.write(str(item) + "\n")
        else:
            console.print(item)
