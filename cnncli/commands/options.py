"""Options and output helpers shared by every family of commands."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..analysis.choices import DTYPE_BYTES, FORMATS
from ..analysis.table import wrap_text
from ..errors import UsageError
from ..files import write_atomically


def spec_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """SPEC plus the options that change what is analysed: --set, --input, --batch, --dtype."""
    f = click.option("--dtype", type=click.Choice(list(DTYPE_BYTES)),
                     default="fp32", show_default=True,
                     help="Element type for memory figures.")(f)
    f = click.option("--batch", "-b", type=click.IntRange(1, 10**9), default=1,
                     show_default=True, help="Batch size; work and activations scale with it.")(f)
    return click.argument("spec", shell_complete=complete_spec)(override_options(f))


def override_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--set NAME=VALUE (repeatable) and --input CxHxW: what every command that loads a spec
    takes to change it."""
    f = click.option("--input", "input_shape", metavar="CxHxW",
                     help="Override the spec's input shape, e.g. 3x227x227; default: the spec's "
                          "`input`.")(f)
    return click.option("--set", "overrides", metavar="NAME=VALUE", multiple=True,
                        help="Override a spec parameter (repeatable), e.g. --set classes=10; "
                             "default: the spec's `params`.")(f)


def complete_spec(ctx: click.Context, param: click.Parameter,
                  incomplete: str) -> list[Any]:
    """Shell completion for SPEC: zoo names and aliases, spec files and folders."""
    from click.shell_completion import CompletionItem

    from ..spec.zoo import zoo_entries

    names = sorted({word for entry in zoo_entries().values()
                    for word in (entry.name, *entry.aliases)})
    items = [CompletionItem(n) for n in names if n.startswith(incomplete)]
    folder, _, stem = incomplete.rpartition("/")
    base = Path(folder or ".")
    if base.is_dir():
        for path in sorted(base.iterdir()):
            shown = f"{folder}/{path.name}" if folder else path.name
            if not path.name.startswith(stem) or path.name.startswith("."):
                continue
            if path.is_dir():
                items.append(CompletionItem(shown + "/", type="plain"))
            elif path.suffix in (".yaml", ".yml"):
                items.append(CompletionItem(shown))
    return items


def weights_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--weights", metavar="torchvision|PATH", default=None,
        help="Pretrained weights: torchvision (or imagenet) for the published ImageNet "
             "weights of a zoo network that mirrors torchvision (downloaded once, "
             "SHA-256-checked), or a .pth state_dict / cnncli checkpoint. Default: none, "
             "the spec's own initialisation.")(f)


def format_option(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="table",
                     show_default=True, help="Output format.")(f)
    return wide_option(f)


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


class Recording:
    """What a command prints (each text as written, newline included) and the spec files it
    reads (path: text), while the result cache (commands.results) works out an answer."""

    def __init__(self) -> None:
        self.printed: list[str] = []
        self.files: dict[str, str] = {}
        self.keep = True  # False: the answer depends on more than files (see not_kept)


#: the recordings under way (commands.results pushes one while a command runs)
RECORDINGS: list[Recording] = []


def echo(text: str, nl: bool = True) -> None:
    """click.echo to stdout, recorded for the result cache: what a cached command prints
    goes through here."""
    click.echo(text, nl=nl)
    for recording in RECORDINGS:
        recording.printed.append(text + "\n" if nl else text)


def not_kept() -> None:
    """The answer of the command under way depends on something no file's text pins down
    (which profile is this machine's newest): the result cache does not keep it."""
    for recording in RECORDINGS:
        recording.keep = False


def depends_on(files: dict[str, str]) -> None:
    """Files (path: the text read) the answer of a command under way depends on: a kept
    answer is replayed only while each still reads the same. Every file a cached command
    reads beyond its spec (a profile, a table) must be named here."""
    for recording in RECORDINGS:
        recording.files.update(files)


def analysis_for(spec: str, overrides: tuple[str, ...], input_shape: str | None, batch: int,
                 dtype: str, freeze: tuple[str, ...] = ()) -> Any:
    from ..analysis.analyze import analyze
    from ..spec.load import load

    network = load(spec, parse_sets(overrides), input_shape)
    depends_on(network.files)
    if freeze:
        from ..spec.freeze import freeze as freeze_layers

        freeze_layers(network, freeze)
    return analyze(network, batch=batch, dtype=dtype)


#: the GPU profiles cnncli ships (cnncli/analysis/profiles/; a test keeps this list whole)
SHIPPED_PROFILES = ("a100-sxm", "h100-sxm", "rtx-4090", "t4")


def time_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--time [PROFILE]: a predicted time from a device profile; the flag alone means this
    machine's calibrated profile."""
    return click.option(
        "--time", "time_profile", is_flag=False, flag_value="auto", default=None,
        metavar="[PROFILE]",
        help=f"{what}, predicted from a device profile: a profile file, a shipped GPU's "
             f"(uncalibrated: {', '.join(SHIPPED_PROFILES)}), or, given alone, this "
             "machine's from `cnncli calibrate`. Default: no time.")


def predicted_time(a: Any, profile: str | None, train: bool = False) -> Any:
    """analysis.timing's prediction for --time PROFILE, or None without --time."""
    if profile is None:
        return None
    not_kept()  # a profile named by device, or this machine's newest, is no one file's text
    from ..analysis.profile import resolve
    from ..analysis.timing import predict

    return predict(a, resolve(profile), train)


def wide_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """--wide: every column and exact figures in a terminal, as in a pipe."""
    def remember(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
        ctx.meta["cnncli.wide"] = value
        return value

    return click.option("--wide", is_flag=True, expose_value=False, callback=remember,
                        help="Show every column with exact figures, however narrow the "
                             "terminal (default: fit the terminal; pipes get everything).")(f)


def output_width() -> int | None:
    """The terminal's width, or None (no limit) for a pipe, a file or --wide."""
    ctx = click.get_current_context(silent=True)
    if (ctx is not None and ctx.meta.get("cnncli.wide")) or not sys.stdout.isatty():
        return None
    import shutil  # here: a pipe never asks, and shutil loads bz2, lzma, fnmatch ...

    return shutil.get_terminal_size().columns


def emit(fmt: str, text_or_renderables: Any) -> None:
    """Print a string as is (JSON, CSV, YAML); a list's tables (TextTable, KeyValues) and prose
    fitted to the terminal.

    In a terminal nothing is wider than the window (tables leave out columns or shorten
    figures and say so; notes wrap). To a pipe or a file, every row stays on one line whatever
    the width, and no line ends in spaces, so scripts can read it.
    """
    if isinstance(text_or_renderables, str):
        echo(text_or_renderables, nl=not text_or_renderables.endswith("\n"))
        return
    width = output_width()
    for item in text_or_renderables:
        if isinstance(item, str):  # prose: each line wraps under its own indentation
            echo("\n".join(part for line in item.split("\n") for part in
                           wrap_text(line, width, " " * (len(line) - len(line.lstrip())))))
        else:
            echo(item.render(width))


def check_new_file(path: Path, force: bool) -> Path:
    """The one overwrite policy, checked before any work: an existing file needs --force; a
    folder, or a file in a folder that does not exist, is refused."""
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give a file name")
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        raise UsageError(f"{path.parent}: no such folder")
    return path


def write_new_file(path: Path, text: str, force: bool) -> None:
    """Write text to path through a temporary name (nothing half-written); an existing file
    needs force."""
    check_new_file(path, force)
    write_atomically(path, text)
