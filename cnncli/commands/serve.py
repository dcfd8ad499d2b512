"""`cnncli serve`: the local web playground. Never imports torch (a test lists its imports)."""

from __future__ import annotations

import os
import sys
import webbrowser

import click

from ..errors import UsageError, tell
from ..serve.app import Playground, make_server, run_until_stopped, url_of
from ..serve.jobs import Setup
from ..serve.worker import Worker
from ..spec.eject import eject, standalone_text
from ..spec.locate import STDIN, locate
from ..spec.yamlsrc import read_text
from ..spec.zoo import zoo_dir
from .options import complete_spec

#: the worker's address-space cap; the zoo's largest network (efficientnet_b7 with its diagram)
#: peaks under 50 MiB resident
MEMORY = 1 << 30
EXAMPLE = "lenet5"


@click.command()
@click.argument("spec", required=False, shell_complete=complete_spec)
@click.option("--port", "-p", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port to listen on; 0 picks a free one.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but this machine's own lets other machines "
                   "analyse specs here (a warning says so).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=10.0, show_default=True,
              help="Seconds one analysis may take before it is stopped.")
def serve(spec: str | None, port: int, host: str, open_browser: bool, timeout: float) -> None:
    """A local web playground: edit a spec, see every shape and count update as you type.

    SPEC (a file or zoo name; default: lenet5) is opened in the editor. An `include:` in the
    edited text is read from the zoo and from SPEC's folder only. Ctrl-C stops the server.
    """
    name, text, roots = first_spec(spec or EXAMPLE)
    if host not in ("127.0.0.1", "localhost", "::1"):
        tell("warning", f"listening on {host}: anyone who can reach this machine can analyse "
                        "specs with it and read the zoo and SPEC's folder's specs")
    app = Playground(Worker(Setup(name, roots), timeout, MEMORY), name, text)
    try:
        server = make_server(app, host, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    app.worker.start()  # now, so the page's first answer does not wait for an interpreter
    url = url_of(server, host)
    click.echo(f"cnncli serve: {url}  (Ctrl-C stops it)")
    sys.stdout.flush()
    if open_browser:
        webbrowser.open(url)
    run_until_stopped(server, app)


def first_spec(ref: str) -> tuple[str, str, tuple[str, ...]]:
    """(the editor's file name, its text, the folders includes may come from) for SPEC."""
    file, variant = locate(ref)
    zoo = str(zoo_dir())
    if file == STDIN:
        return "editor.yaml", sys.stdin.read(), (zoo,)
    if os.path.dirname(os.path.realpath(file)) == os.path.realpath(zoo):
        entry, text = standalone_text(variant or os.path.basename(file).rsplit(".", 1)[0])
        return f"{entry.name}.yaml", text, (zoo,)
    text = read_text(file)
    if variant is not None:
        text = eject(text, file, variant)
    return file, text, (zoo, os.path.dirname(os.path.abspath(file)))
