"""The zoo: specs shipped with cnncli, found by name from any folder."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .yamlsrc import YMap, read_yaml_file


def zoo_dir() -> Path:
    """The shipped specs: cnncli/specs in a wheel, ../specs in a source checkout."""
    package = Path(__file__).resolve().parents[1]  # cnncli/
    for candidate in (package / "specs", package.parent / "specs"):
        if candidate.is_dir() and any(candidate.glob("*.yaml")):
            return candidate
    return package / "specs"


@dataclass(frozen=True)
class ZooEntry:
    name: str
    file: Path
    variant: str | None  # a key of the file's `variants`, or None for the file itself


@cache
def zoo_entries() -> dict[str, ZooEntry]:
    """Every name the zoo answers to: one per file, or one per variant of a family file."""
    entries: dict[str, ZooEntry] = {}
    for file in sorted(zoo_dir().glob("*.yaml")):
        data = read_yaml_file(str(file))
        if not isinstance(data, YMap) or "layers" not in data:
            continue  # a file of shared blocks, not a network
        variants = data.get("variants")
        if isinstance(variants, YMap) and variants:
            for variant in variants:
                entries[variant] = ZooEntry(variant, file, variant)
        else:
            name = data.get("name", file.stem)
            entries[str(name)] = ZooEntry(str(name), file, None)
    return entries


def find(name: str) -> ZooEntry | None:
    return zoo_entries().get(name)
