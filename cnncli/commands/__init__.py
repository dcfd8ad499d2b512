"""The command line: parse options, call the library, render. Kept thin.

One module per family of commands: analysis (summary, flops, list, check, spec), visual
(explain, compare, diagram), model (verify, export, import), train (train, eval, predict,
plot), bench and serve (the web playground); options holds what they share; results keeps
the static commands' answers in the user cache. Every command is imported only when run (a
lazy group): those that need torch, so that the static ones start without torch, and the
static ones too, so that `cnncli --help` and `--version` load neither the spec nor the
analysis.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import sys

import click

from .. import __version__
from ..errors import CnncliError, show, shown_on_stderr

# name -> ("module:attribute", short help): imported on first use; the short help is here
# so that `cnncli --help` imports none of them (a static command's is its docstring's, as a
# test checks; the torch commands' are written shorter than theirs).
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "summary": ("cnncli.commands.analysis:summary",
                "Per-layer shapes, parameters, MACs/FLOPs, memory and receptive field, with "
                "totals."),
    "flops": ("cnncli.commands.analysis:flops",
              "Where the compute goes: by layer, by block and by layer type."),
    "list": ("cnncli.commands.analysis:list_zoo",
             "The networks in the zoo: name, input, parameters and MACs."),
    "check": ("cnncli.commands.analysis:check",
              "Check that specs resolve and every shape works out; one line per spec."),
    "spec": ("cnncli.commands.analysis:spec_text",
             "Print (or write) a zoo network's YAML spec, to read or to start your own from."),
    "explain": ("cnncli.commands.visual:explain",
                "The arithmetic behind every figure, with the numbers filled in."),
    "compare": ("cnncli.commands.visual:compare",
                "Networks side by side: params, MACs, FLOPs, activations, memory, output, "
                "receptive..."),
    "diagram": ("cnncli.commands.visual:diagram",
                "Draw the network: boxes with name, type and output shape, coloured by share "
                "of MACs."),
    "verify": ("cnncli.commands.model:verify",
               "Build the model, run it and compare every layer with the analysis."),
    "import": ("cnncli.commands.model:import_onnx",
               "Turn an ONNX file into a spec and its weights (FILE.yaml, FILE.pt)."),
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
    "serve": ("cnncli.commands.serve:serve",
              "A local web playground: edit a spec, see every shape and count update as you "
              "type."),
    "calibrate": ("cnncli.commands.bench:calibrate",
                  "Measure this machine for summary --time: a profile of per-layer speeds."),
}


#: commands that answer in milliseconds and run with the garbage collector off (cnncli.__main__)
STATIC_COMMANDS = frozenset({"summary", "flops", "list", "check", "spec", "explain", "compare",
                             "diagram"})


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*self.commands, *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in STATIC_COMMANDS:
            gc.enable()  # a long run (training, a server) needs its cycles collected
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


# -- entry point --------------------------------------------------------------------------

def _freeze_at_exit() -> None:
    """Spare the interpreter's shutdown its garbage collection.

    At exit Python collects garbage over every object still alive (after a summary some
    25,000: modules, functions, click's commands): 8 to 10 ms of CPU measured on 2 cores,
    more than resolving ResNet-50. A command has freed what it made by then, and what is
    left lives until the process ends, so it is frozen (moved out of the collector's sight)
    instead. Registered when the CLI is imported, so the exit handlers of libraries
    imported later (torch, multiprocessing) run before it (last in, first out).
    """
    gc.freeze()


atexit.register(_freeze_at_exit)


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
