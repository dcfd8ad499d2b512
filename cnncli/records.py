"""Plain value classes: `Record` and `Frozen`, what the spec, the layers and the analysis
pass around (a place in a file, a layer's cost, an IR node, an analysed row).

Each such class writes its own typed `__init__`, which sets its fields; the base compares,
shows and copies them, as a dataclass would. Why not dataclasses: making one runs `exec`
for every method it writes, 0.3 to 1 ms a class, and a static command defines two dozen of
them at every start-up, about a quarter of what cnncli adds to `python -c "import click,
yaml"` (issue 23). A plain class costs a few microseconds.
"""

from __future__ import annotations

from typing import Any, TypeVar

R = TypeVar("R", bound="Record")


class Record:
    """A class whose fields are the attributes its `__init__` sets, in that order, under
    the names of its parameters: equal to a record of its own class with equal fields,
    shown with them, copied with changes by `replace`. Mutable, so not hashable."""

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in vars(self).items())
        return f"{type(self).__name__}({fields})"

    def replace(self: R, **changes: Any) -> R:
        """A copy with `changes` (field: value), made through `__init__`."""
        return type(self)(**{**vars(self), **changes})


class Frozen(Record):
    """A Record never changed once made: its `__init__` sets the fields with `_set`, and
    assigning one afterwards raises. Hashable by its fields."""

    def _set(self, **fields: Any) -> None:
        vars(self).update(fields)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: make a changed copy with "
                             f"replace({name}=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __hash__(self) -> int:
        return hash((type(self), *vars(self).values()))
