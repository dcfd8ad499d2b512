"""The command line: parse options, call the library, render. Kept thin.

Commands that need torch live in their own modules and are imported only when run
(a lazy group), so `summary`, `flops`, `list` and `check` start without torch.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

import click

from . import __version__
from .errors import CnncliError, UsageError

# name -> ("module:attribute", short help): imported on first use, as these import torch;
# the short help is here so that `cnncli --help` does not import them either.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "verify": ("cnncli.torch_commands:verify",
               "Build the model, run it and compare every layer with the analysis."),
    "export": ("cnncli.torch_commands:export",
               "Write a spec's or checkpoint's model as ONNX or TorchScript, checked."),
    "train": ("cnncli.train_commands:train",
              "Train the network a spec describes (checkpoints, metrics, resume)."),
    "eval": ("cnncli.train_commands:evaluate",
             "Loss, accuracy, per-class accuracy and confusion matrix of a checkpoint."),
    "predict": ("cnncli.train_commands:predict",
                "Top classes with probabilities for image files or .npy arrays."),
    "plot": ("cnncli.train_commands:plot", "Loss and accuracy curves of a run, as a PNG."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*self.commands, *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[name][0].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, LAZY_COMMANDS[name][1] if name in LAZY_COMMANDS
                 else self.commands[name].get_short_help_str(limit=90))
                for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="cnncli")
@click.option("--debug", is_flag=True, help="Show a Python traceback on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Exact shapes, parameters, MACs/FLOPs and receptive fields of CNNs written as YAML.

    SPEC is a spec file or the name of a network in the zoo (`cnncli list`).
    """
    ctx.obj = {"debug": debug}


# -- shared options -----------------------------------------------------------------------

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
    from .report import FORMATS

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
    from .api import analyze

    return analyze(spec, overrides=parse_sets(overrides), input=input_shape, batch=batch,
                   dtype=dtype)


def emit(fmt: str, text_or_renderables: Any) -> None:
    """Print text as is; print rich renderables through a console sized for pipes too."""
    if isinstance(text_or_renderables, str):
        click.echo(text_or_renderables, nl=not text_or_renderables.endswith("\n"))
        return
    from rich.console import Console

    from .report import TextTable

    console = Console(soft_wrap=False, highlight=False)
    if not console.is_terminal:  # a pipe or file: never squeeze the columns
        console = Console(width=200, soft_wrap=False, highlight=False)
    for item in text_or_renderables:
        if isinstance(item, TextTable):
            console.file.write(str(item) + "\n")
        else:
            console.print(item)


# -- static commands (no torch) ---------------------------------------------------------

@cli.command()
@spec_options
@format_option
@depth_option(None, "Collapse blocks nested deeper than this into one row with summed costs.")
def summary(spec: str, overrides: tuple[str, ...], input_shape: str | None, batch: int,
            dtype: str, fmt: str, depth: int | None) -> None:
    """Per-layer shapes, parameters, MACs/FLOPs, memory and receptive field, with totals."""
    from . import report

    a = analysis_for(spec, overrides, input_shape, batch, dtype)
    if fmt == "json":
        emit(fmt, report.summary_json(a, depth))
    elif fmt == "csv":
        emit(fmt, report.summary_csv(a, depth))
    elif fmt == "markdown":
        emit(fmt, report.summary_markdown(a, depth))
    else:
        emit(fmt, report.summary_renderables(a, depth))


@cli.command()
@spec_options
@format_option
@depth_option(2, "Depth of the by-layer breakdown (blocks deeper are summed).")
@click.option("--top", type=click.IntRange(1), help="Only the N most expensive rows, by MACs.")
def flops(spec: str, overrides: tuple[str, ...], input_shape: str | None, batch: int,
          dtype: str, fmt: str, depth: int | None, top: int | None) -> None:
    """Where the compute goes: by layer, by block and by layer type."""
    from . import breakdown

    a = analysis_for(spec, overrides, input_shape, batch, dtype)
    if fmt == "json":
        emit(fmt, breakdown.flops_json(a, depth, top))
    elif fmt == "csv":
        emit(fmt, breakdown.flops_csv(a, depth, top))
    elif fmt == "markdown":
        emit(fmt, breakdown.flops_markdown(a, depth, top))
    else:
        emit(fmt, breakdown.flops_renderables(a, depth, top))


@cli.command(name="list")
@format_option
def list_zoo(fmt: str) -> None:
    """The networks in the zoo: name, input, parameters and MACs."""
    from . import zoolist

    records = zoolist.records()
    if fmt == "json":
        emit(fmt, zoolist.as_json(records))
    elif fmt == "csv":
        emit(fmt, zoolist.as_csv(records))
    elif fmt == "markdown":
        emit(fmt, zoolist.as_markdown(records))
    else:
        emit(fmt, [zoolist.as_table(records)])


@cli.command()
@click.argument("specs", nargs=-1, required=True)
@click.option("--set", "overrides", metavar="NAME=VALUE", multiple=True,
              help="Override a spec parameter (repeatable).")
@click.option("--input", "input_shape", metavar="CxHxW", help="Override the input shape.")
def check(specs: tuple[str, ...], overrides: tuple[str, ...], input_shape: str | None) -> None:
    """Check that specs resolve and every shape works out; one line per spec.

    Exits 2 at the first spec with an error, after printing it.
    """
    from .recipe import from_spec
    from .report import human

    for spec in specs:
        a = analysis_for(spec, overrides, input_shape, 1, "fp32")
        from_spec(a.network.train)  # the training recipe is part of the spec too
        t = a.totals()
        click.echo(f"ok  {spec}: {a.network.name}, input {'x'.join(map(str, a.input))}, "
                   f"output {'x'.join(map(str, a.output))}, {t['params']:,} params "
                   f"({human(t['params'])}), {t['macs']:,} MACs ({human(t['macs'])})")


# -- entry point --------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="cnncli", standalone_mode=False)
    except CnncliError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see {exc.ctx.command_path} --help)"
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(0)
