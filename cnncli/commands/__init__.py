"""The command line: parse options, call the library, render. Kept thin.

One module per family of commands: analysis (summary, flops, list, check, spec), visual
(explain, compare, diagram), model (verify, export), train (train, eval, predict, plot) and
bench; options holds what they share. Commands that need torch are imported only when run (a
lazy group), so the static ones start without torch.
"""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from ..errors import CnncliError, show, shown_on_stderr
from .analysis import check, flops, list_zoo, spec_text, summary
from .visual import compare, diagram, explain

# name -> ("module:attribute", short help): imported on first use, as these import torch;
# the short help is here so that `cnncli --help` does not import them either.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "verify": ("cnncli.commands.model:verify",
               "Build the model, run it and compare every layer with the analysis."),
    "export": ("cnncli.commands.model:export",
               "Write a model as pt2 (torch.export), ONNX or TorchScript, and check the file."),
    "train": ("cnncli.commands.train:train",
              "Train the network a spec describes (checkpoints, metrics, resume)."),
    "eval": ("cnncli.commands.train:evaluate",
             "Loss, accuracy, per-class accuracy and confusion matrix of a checkpoint."),
    "predict": ("cnncli.commands.train:predict",
                "Top classes with probabilities for image files or .npy arrays."),
    "bench": ("cnncli.commands.bench:bench",
              "Measured images/s, latency, peak memory and time per layer beside MACs."),
    "plot": ("cnncli.commands.train:plot", "Loss and accuracy curves of a run, as a PNG."),
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
    ctx.with_resource(shown_on_stderr())  # the library's notes, shown as lines on stderr


for _command in (summary, flops, list_zoo, check, spec_text, explain, compare, diagram):
    cli.add_command(_command)


# -- entry point --------------------------------------------------------------------------

# click >= 8.2 raises this for a bare group, where 8.1 printed the help and exited 0 itself
NO_ARGS: type[Exception] | tuple[()] = getattr(click.exceptions, "NoArgsIsHelpError", ())


def main(argv: list[str] | None = None) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="cnncli", standalone_mode=False)
    except CnncliError as exc:
        if debug:
            raise
        show("error", str(exc))
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except NO_ARGS as exc:
        # bare `cnncli` asks what the tool does: the help, not an error
        click.echo(exc.ctx.get_help())
        sys.exit(0)
    except click.ClickException as exc:
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see {exc.ctx.command_path} --help)"
        show("error", f"{exc.format_message()}{hint}")
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(0)
