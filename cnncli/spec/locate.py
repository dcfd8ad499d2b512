"""Which file a spec reference means: standard input, `FILE:VARIANT`, a path, the zoo's file a
missing bare file name stands for (said in a note on stderr), or a zoo name or alias."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import SpecError, tell
from .variants import variant_of
from .zoo import ZooEntry, find, suggest, zoo_file

STDIN = "<stdin>"  # the file name of a spec read from standard input (SPEC given as -)


def locate(ref: str) -> tuple[str, str | None]:
    """A spec reference to (file, variant).

    In order: `-` (standard input); `path.yaml:variant`; a path that exists; a zoo file's
    name or a zoo name as a file name that does not exist here (`alexnet.yaml`), which uses
    the zoo's spec and says so on stderr; a zoo name or alias.
    """
    if ref == "-":
        return STDIN, None
    path, sep, variant = ref.rpartition(":")
    if sep and path.endswith((".yaml", ".yml")):
        if os.path.isfile(path):
            return path, variant_of(path, variant)
        zoo_path = _zoo_stand_in(path)
        if zoo_path is not None:
            _note(f"no {_shown(path)} here; using the zoo's {zoo_path.name} "
                  f"(cnncli spec {variant or 'NAME'} -o FILE copies a network here)")
            return str(zoo_path), variant_of(str(zoo_path), variant)
    if os.path.isdir(ref):
        raise SpecError(f"{ref!r} is a directory; give a spec file (.yaml) or a zoo name")
    if os.path.exists(ref):
        return ref, None
    if ref.endswith((".yaml", ".yml")) or os.sep in ref or "/" in ref:
        return _missing_file(ref)
    entry = find(ref)
    if entry is None:
        raise SpecError(f"no spec file or zoo network named {ref!r}{suggest(ref)}; "
                        "`cnncli list` shows the zoo")
    return str(entry.file), entry.variant


def _missing_file(ref: str) -> tuple[str, str | None]:
    """A spec file that is not here: the zoo's, if a bare name matches one, else an error."""
    stem = Path(ref).name.rsplit(".", 1)[0]
    entry = find_quietly(stem)
    bare = os.path.dirname(ref) in ("", ".")
    zoo_path = _zoo_stand_in(ref)
    if bare and entry is not None and zoo_path in (None, entry.file):
        _note(f"no {_shown(ref)} here; using the zoo's {entry.name} "
              f"(cnncli spec {entry.name} -o {ref} copies it here)")
        return str(entry.file), entry.variant
    if zoo_path is not None:
        _note(f"no {_shown(ref)} here; using the zoo's {zoo_path.name} "
              "(cnncli spec NAME -o FILE copies a network here)")
        return str(zoo_path), None
    hint = f" (the zoo's {entry.name} is named by its name alone)" if entry else ""
    raise SpecError(f"spec file {ref!r} does not exist{hint}")


def _zoo_stand_in(ref: str) -> Path | None:
    """The zoo file a bare file name stands for (`resnet.yaml`), when it is not a path."""
    return zoo_file(Path(ref).name) if os.path.dirname(ref) in ("", ".") else None


def find_quietly(name: str) -> ZooEntry | None:
    """find(), with an ambiguous name counted as none."""
    try:
        return find(name)
    except SpecError:
        return None


def _shown(ref: str) -> str:
    return ref if os.path.dirname(ref) else f"./{ref}"


def _note(message: str) -> None:
    """One line on stderr about a choice made for the user (never on stdout: it may be JSON)."""
    tell("note", message)
