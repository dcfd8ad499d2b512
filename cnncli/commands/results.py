"""The static commands' answers kept in the user cache: a repeated `cnncli summary`, `flops`
or `check` prints its kept answer without loading the spec, the layers or the analysis
(issue 23: those imports and the resolve cost a call more than Python, click and PyYAML do).

An answer is used only while everything it was worked out from is unchanged:
- the request: the command, the value of every argument and option, the working folder, the
  output width (a terminal's columns; none for a pipe, a file or --wide), the Python, the
  CNNCLI_* environment variables and the machine's name (a home shared by machines keeps
  each one's answers apart, should an answer ever depend on the machine);
- what each spec reference is on disk (a file, a folder, nothing; and the FILE of
  FILE:VARIANT), which decides whether it names a file or the zoo;
- the code: cnncli's folder and version, the size and modification time of every cnncli
  module, of every zoo spec (in both places spec.zoo.zoo_dir may find the zoo: they decide
  what a name means) and of PyYAML's files;
- the whole text of every file the answer read (the spec and its includes), read again and
  compared.
An answer that failed, read standard input, printed a note or warning on stderr, depends on
what no file's text pins down (`options.not_kept`: --time's profile), or read a file as
other than its text (an ONNX file, read as the spec import writes for it) is not kept.
The folder is $CNNCLI_RESULTS, else ~/.cache/cnncli/results; CNNCLI_RESULTS=off keeps and
uses nothing. Entries are JSON data, never code; past MAX_ENTRIES the oldest go. A cache
that cannot be read or written changes nothing: the answer is worked out, as without it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import stat
import sys
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from .. import __version__
from ..files import cache_dir, stamps, write_atomically
from . import options
from .options import RECORDINGS, Recording, echo

PACKAGE = Path(__file__).resolve().parents[1]
#: where spec.zoo.zoo_dir looks for the zoo, in its order (a test holds it to that)
ZOO_PLACES = (PACKAGE / "specs", PACKAGE.parent / "specs")
MAX_ENTRIES = 200
OFF = "off"


def remembered(refs: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A static command whose argument `refs` (one spec reference or a tuple of them) names
    what it reads: its kept answer when nothing it depends on changed, else the command run,
    and its answer kept."""
    def wrap(command: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(command)
        def run(**params: Any) -> None:
            given = params[refs]
            specs = list(given) if isinstance(given, tuple) else [given]
            folder = results_dir()
            if folder is None or "-" in specs:  # standard input is read once, never kept
                command(**params)
                return
            request = _request(click.get_current_context().info_name or "", params, specs)
            path = folder / f"{zlib.crc32(request.encode()):08x}.json"
            if not replayed(path, request):
                _work_out(path, request, lambda: command(**params))
        return run
    return wrap


def results_dir() -> Path | None:
    """The cache's folder, or None when $CNNCLI_RESULTS is off."""
    if os.environ.get("CNNCLI_RESULTS") == OFF:
        return None
    return cache_dir("results", "CNNCLI_RESULTS")


def _request(command: str, params: dict[str, Any], specs: list[str]) -> str:
    """The request as canonical JSON text: what the answer's file is named and keyed by."""
    on_disk = [[ref, _kind(ref), _kind(ref.rpartition(":")[0]) if ":" in ref else None]
               for ref in specs]
    ours = {name: value for name, value in os.environ.items() if name.startswith("CNNCLI_")}
    host = os.uname().nodename if hasattr(os, "uname") else os.environ.get("COMPUTERNAME")
    return json.dumps({"command": command, "params": params, "cwd": os.getcwd(),
                       "width": options.output_width(), "python": sys.version, "refs": on_disk,
                       "environment": ours, "host": host}, sort_keys=True, default=repr)


def _kind(path: str) -> str:
    """What is at path, as locate sees it: file, folder, other or none."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return "none"
    return "file" if stat.S_ISREG(mode) else "folder" if stat.S_ISDIR(mode) else "other"


def code_key() -> list[Any]:
    """The stamps of what works an answer out: cnncli's modules (where they are and their
    version too: a wheel may give two releases' files one time), the zoo, PyYAML."""
    found = importlib.util.find_spec("yaml")
    yaml_dir = Path(found.origin).parent if found and found.origin else None
    return [str(PACKAGE), __version__, stamps(PACKAGE, (".py",), recursive=True),
            [stamps(place, (".yaml",)) for place in ZOO_PLACES],
            [str(yaml_dir), stamps(yaml_dir, (".py", ".so", ".pyd")) if yaml_dir else []]]


def replayed(path: Path, request: str) -> bool:
    """Print the answer kept at path if it is for this request and still holds; say so."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        if entry["request"] != request or entry["code"] != json.loads(json.dumps(code_key())):
            return False
        files, printed = entry["files"], entry["printed"]
        if not (files and all(_holds(file, text) for file, text in files.items())):
            return False
        if not (isinstance(printed, list) and all(isinstance(t, str) for t in printed)):
            return False
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return False
    for text in printed:
        echo(text, nl=False)
    return True


def _holds(file: str, text: Any) -> bool:
    """Whether file still reads as text (spec.yamlsrc.read_text's decoding)."""
    try:
        with open(file, "rb") as handle:
            return isinstance(text, str) and handle.read().decode("utf-8-sig") == text
    except (OSError, UnicodeDecodeError, TypeError, ValueError):
        return False


def _work_out(path: Path, request: str, command: Callable[[], None]) -> None:
    """Run the command, recording what it prints and reads; keep its answer if it may be."""
    recording = Recording()
    with _recorded(recording) as quiet:
        command()
    # an answer is kept only if it could be replayed: every file it read still reads as
    # recorded (an ONNX file is read as the spec import writes for it, never as its bytes)
    if quiet() and recording.keep and recording.files and "<stdin>" not in recording.files \
            and all(_holds(file, text) for file, text in recording.files.items()):
        entry = {"request": request, "code": code_key(), "files": recording.files,
                 "printed": recording.printed}
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, json.dumps(entry))
            _prune(path.parent)


@contextlib.contextmanager
def _recorded(recording: Recording) -> Iterator[Callable[[], bool]]:
    """Within: what the command prints and reads goes to recording; the function yielded
    says whether it showed no warning or note (which a replay would not repeat)."""
    shown: list[bool] = []
    with warnings.catch_warnings():
        show = warnings.showwarning

        def spy(*args: Any, **kwargs: Any) -> None:
            shown.append(True)
            show(*args, **kwargs)

        warnings.showwarning = spy
        RECORDINGS.append(recording)
        try:
            yield lambda: not shown
        finally:
            RECORDINGS.remove(recording)


def _prune(folder: Path) -> None:
    """Past MAX_ENTRIES answers, the least recently written go."""
    entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    for old in entries[:-MAX_ENTRIES]:
        with contextlib.suppress(OSError):
            old.unlink()
