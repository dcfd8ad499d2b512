"""The zoo: specs shipped with cnncli, found by name or alias from any folder.

Names match whatever the case and whatever `-`, `_`, `.` and spaces a user types (`VGG-16`,
`vgg_16` and `vgg16` are one name). Each spec carries its own aliases: a file's top-level
`aliases:` names the network (or, in a family file with `variants:`, the whole family), and a
variant's `aliases:` names that variant. A family's name is an alias of the family too. A
name that stands for several networks (a family) is ambiguous: the error lists them.

The names come from an index kept in the user cache (`$CNNCLI_INDEX`, else
~/.cache/cnncli/index), rebuilt from the YAML when a zoo file or a module of this folder
(which reads the YAML and the names) changes, so looking a name up parses one file, the
network's own, rather than the whole zoo.
"""

from __future__ import annotations

import os
import re
import zlib
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..files import cache_dir, cached, stamps
from ..records import Frozen
from .yamlsrc import YList, YMap, read_yaml_file


def zoo_dir() -> Path:
    """The shipped specs: cnncli/specs in a wheel, ../specs in a source checkout."""
    package = Path(__file__).resolve().parents[1]  # cnncli/
    for candidate in (package / "specs", package.parent / "specs"):
        if candidate.is_dir() and any(n.endswith(".yaml") for n in os.listdir(candidate)):
            return candidate
    return package / "specs"


class ZooEntry(Frozen):
    """One network of the zoo: its file, and the variant of that file it is, if any."""

    name: str
    file: Path
    variant: str | None  # a key of the file's `variants`, or None for the file itself
    aliases: tuple[str, ...]

    def __init__(self, name: str, file: Path, variant: str | None,
                 aliases: tuple[str, ...] = ()) -> None:
        self._set(name=name, file=file, variant=variant, aliases=aliases)


_SEPARATORS = re.compile(r"[-_.\s]+")


def normalize(name: str) -> str:
    """The form names are compared in: lower case, without `-`, `_`, `.` and spaces."""
    return _SEPARATORS.sub("", name).lower()


#: one network as the index keeps it: name, file name, variant, its own aliases, and the
#: family names it answers to as one of several
Row = tuple[str, str, str | None, tuple[str, ...], tuple[str, ...]]


@cache
def zoo_entries() -> dict[str, ZooEntry]:
    """Every network of the zoo by its canonical name: one per file, or one per variant."""
    folder, rows = _scan()
    return {row[0]: _entry(folder, row) for row in rows}


def _entry(folder: Path, row: Row) -> ZooEntry:
    name, file, variant, own, _ = row
    return ZooEntry(name, folder / file, variant, own)


@cache
def _index() -> dict[str, tuple[str, ...]]:
    """Normalised name or alias -> the canonical names it may stand for."""
    index: dict[str, list[str]] = {}
    _, rows = _scan()
    for name, _, _, own, family in rows:
        for word in {name, *own, *family}:
            names = index.setdefault(normalize(word), [])
            if name not in names:
                names.append(name)
    # a canonical name always means itself, even where a family alias shares its spelling
    for name, *_ in rows:
        index[normalize(name)] = [name]
    return {key: tuple(names) for key, names in index.items()}


@cache
def _scan() -> tuple[Path, tuple[Row, ...]]:
    """The zoo folder and a row for every network in it, from the index in the user cache
    while no zoo file (and no module of cnncli/spec) has changed since it was built: a
    lookup then parses no YAML at all (and makes the ZooEntry of the one name it finds)."""
    folder = zoo_dir()
    key = {"zoo": str(folder), "specs": stamps(folder, (".yaml",)), "code": reader_stamps()}
    name = f"zoo-{zlib.crc32(str(folder).encode()):08x}.json"
    files = {file for file, _, _ in key["specs"]}
    rows = cached(cache_dir("index", "CNNCLI_INDEX") / name, key, lambda: _parse(folder),
                  lambda rows: _well_formed(rows, files))
    return folder, tuple((n, file, variant, tuple(own), tuple(family))
                         for n, file, variant, own, family in rows)


@cache
def code_stamps() -> list[list[Any]]:
    """The stamps of cnncli's own modules: a cache built by other code is stale (a new
    release rewrites them; so does an edit in a checkout, where the version stays)."""
    return stamps(Path(__file__).resolve().parents[1], (".py",), recursive=True)


def reader_stamps() -> list[list[Any]]:
    """The stamps of this folder's modules, which read the zoo's names (zoo, yamlsrc, ...):
    what the index is built by. One folder, not all of cnncli's (code_stamps: about 1 ms
    of every lookup's start-up)."""
    return stamps(Path(__file__).resolve().parent, (".py",))


def _well_formed(rows: Any, files: set[str]) -> bool:
    """Rows as _parse writes them, each naming a file of the zoo folder (a cache edited by
    hand to point elsewhere is rebuilt, not followed)."""
    def words(value: Any) -> bool:
        return isinstance(value, list) and all(isinstance(w, str) for w in value)

    return isinstance(rows, list) and all(
        isinstance(row, list) and len(row) == 5 and isinstance(row[0], str) and row[1] in files
        and (row[2] is None or isinstance(row[2], str)) and words(row[3]) and words(row[4])
        for row in rows)


def _parse(folder: Path) -> list[list[Any]]:
    """[name, file name, variant, own aliases, family names] per network, from the YAML."""
    found: list[list[Any]] = []
    for file in sorted(folder.glob("*.yaml")):
        data = read_yaml_file(str(file))
        if not isinstance(data, YMap) or "layers" not in data:
            continue  # a file of shared blocks, not a network
        top = _aliases(data)
        variants = data.get("variants")
        if isinstance(variants, YMap) and variants:
            family = [str(data.get("name", file.stem)), file.stem, *top]
            for variant, spec in variants.items():
                own = _aliases(spec) if isinstance(spec, YMap) else ()
                found.append([str(variant), file.name, str(variant), list(own), family])
        else:
            found.append([str(data.get("name", file.stem)), file.name, None, list(top), []])
    return found


def _aliases(box: YMap) -> tuple[str, ...]:
    raw = box.get("aliases")
    return tuple(str(a) for a in raw) if isinstance(raw, (list, YList)) else ()


def find(name: str) -> ZooEntry | None:
    """The zoo network a name or alias stands for; None if none; SpecError if several."""
    names = _index().get(normalize(name), ())
    if len(names) > 1:
        raise SpecError(f"{name!r} could be any of {', '.join(names)}; name one of them")
    if not names:
        return None
    folder, rows = _scan()
    return _entry(folder, next(row for row in rows if row[0] == names[0]))


def suggest(name: str) -> str:
    """' (did you mean 'x'?)' against every name and alias of the zoo, or ''."""
    import difflib  # here: only a name that is not in the zoo needs it

    spelled = {normalize(word): word for name, _, _, own, _ in _scan()[1]
               for word in (name, *own)}
    close = difflib.get_close_matches(normalize(name), list(spelled), n=1, cutoff=0.6)
    return f" (did you mean {spelled[close[0]]!r}?)" if close else ""


def zoo_file(file_name: str) -> Path | None:
    """The zoo's file of this name (`resnet.yaml`), if it ships one."""
    path = zoo_dir() / file_name
    return path if file_name.endswith((".yaml", ".yml")) and path.is_file() else None

