"""A layer type's declared arguments: names, defaults, types and allowed ranges, each with a
clear error (ArgError, OptionError)."""

from __future__ import annotations

import math
from typing import Any, Generic, TypeVar, overload

from ..errors import yaml_repr

REQUIRED = object()
MAX_INT_ARG = 2**31 - 1  # sizes beyond int32 are typos, not networks


class ArgError(Exception):
    """A bad argument value; the resolver adds the location.

    arg: the option whose value is wrong, or None for a rule tying several together.
    layer: the type's name, once `Layer.create` has seen the error go by.
    """

    def __init__(self, detail: str, arg: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.arg = arg
        self.layer = ""

    def said_of(self, kind: str) -> str:
        """The message about layer type `kind`, spelled as the spec does (conv2d or conv)."""
        return f"{kind}: {self.detail}"

    def __str__(self) -> str:
        return self.said_of(self.layer) if self.layer else self.detail


class OptionError(ArgError):
    """An option the type lacks (`arg`: the key) or a required one left out (`arg`: None):
    the message goes on from the type's name ("conv needs 'out' ...")."""

    def said_of(self, kind: str) -> str:
        return f"{kind} {self.detail}"


T = TypeVar("T")


class Arg(Generic[T]):
    """One declared argument of a layer type, as a class attribute named after it:

        out: Arg[int] = Arg("int", min=1, doc="output channels")

    On a layer, `self.out` is the checked value (an int); on the class, `Conv.out` is this
    declaration. kind: "int", "float", "bool", "pair" (int or [h, w]), "padding" (pair,
    "same", "valid"), "table" (a list of lists of indices, e.g. which input maps feed each
    output map), "scale" (a number or [h, w] numbers, as floats), "sides" (p, [ph, pw] or
    [left, right, top, bottom], torch.nn.functional.pad's order, kept as that 4-tuple),
    "ints" (a non-empty list of integers, kept as a tuple; one integer is a list of one),
    "sizes" (a non-empty list of [h, w] pairs, kept as a tuple of tuples; one integer `n`
    is [[n, n]]) or "choice" (one of the words `choices` maps
    to its canonical spelling).
    """

    def __init__(self, kind: str, default: Any = REQUIRED, *, min: float | None = None,
                 max: float | None = None, max_open: bool = False, doc: str = "",
                 choices: dict[str, str] | None = None):
        self.name = ""  # the attribute's name, set when the class is made
        self.kind = kind
        self.default = default
        self.min = min
        self.max = max
        self.max_open = max_open  # True: the value must stay below max
        self.doc = doc
        self.choices = choices or {}  # "choice": each spelling -> its canonical word

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, layer: None, owner: type | None = None) -> Arg[T]: ...

    @overload
    def __get__(self, layer: object, owner: type | None = None) -> T: ...

    def __get__(self, layer: object, owner: type | None = None) -> Any:
        # A layer's values live in its __dict__, which Python reads before this (a non-data
        # descriptor): this runs for the class, or for a layer not made by `create`.
        if layer is None:
            return self
        raise AttributeError(f"{type(layer).__name__} has no {self.name!r}: make layers with "
                             f"{type(layer).__name__}.create(...)")

    def __repr__(self) -> str:
        default = "required" if self.required else repr(self.default)
        return f"Arg({self.name!r}, {self.kind!r}, default={default})"

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def words(self) -> tuple[str, ...]:
        """Words a spec writes as they are, not as expressions ("same", "bilinear")."""
        if self.kind == "padding":
            return ("same", "valid")
        return tuple(self.choices)

    def check(self, value: Any) -> Any:
        """Return the value in canonical form (pairs as tuples) or raise ArgError."""
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            hint = " (write true or false)" if isinstance(value, str) else ""
            raise ArgError(f"{self.name} must be true or false, got {yaml_repr(value)}{hint}")
        if self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ArgError(f"{self.name} must be a number, got {yaml_repr(value)}")
            return self._in_range(float(value))
        if self.kind == "int":
            return self._in_range(self._int(value))
        if self.kind == "padding" and value in ("same", "valid"):
            return value
        if self.kind == "table":
            return self._table(value)
        if self.kind == "choice":
            return self._choice(value)
        if self.kind == "text":
            if not isinstance(value, str) or not value or len(value) > 200:
                raise ArgError(f"{self.name} must be a word of at most 200 characters, got "
                               f"{yaml_repr(value)}")
            return value
        if self.kind in ("ints", "sizes"):
            return self._list(value)
        if self.kind == "scale":
            items = value if isinstance(value, (list, tuple)) else [value, value]
            return tuple(self._number(v) for v in self._sized(items, (2,), "[h, w]"))
        if self.kind == "sides":
            items = value if isinstance(value, (list, tuple)) else [value]
            sides = [self._in_range(self._int(v))
                     for v in self._sized(items, (1, 2, 4), "[ph, pw] or [left, right, top, "
                                                           "bottom]")]
            if len(sides) == 1:
                return (sides[0],) * 4
            if len(sides) == 2:  # [ph, pw]: W's pad is given second but padded first
                return (sides[1], sides[1], sides[0], sides[0])
            return tuple(sides)
        if self.kind in ("pair", "padding"):
            if isinstance(value, (list, tuple)) and len(value) == 2:
                return (self._in_range(self._int(value[0])), self._in_range(self._int(value[1])))
            if isinstance(value, (list, tuple)):
                raise ArgError(f"{self.name} must be one integer or a pair [h, w], "
                               f"got a list of {len(value)}")
            n = self._in_range(self._int(value))
            return (n, n)
        raise AssertionError(f"unknown argument kind {self.kind}")

    def _choice(self, value: Any) -> str:
        if isinstance(value, str) and value in self.choices:
            return self.choices[value]
        words = ", ".join(dict.fromkeys(self.choices))
        raise ArgError(f"{self.name} must be one of {words}, got {yaml_repr(value)}")

    def _sized(self, items: Any, lengths: tuple[int, ...], form: str) -> list[Any]:
        if len(items) not in lengths:
            raise ArgError(f"{self.name} must be one number or {form}, got a list of "
                           f"{len(items)}")
        return list(items)

    def _number(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ArgError(f"{self.name} must be a number or a pair [h, w] of numbers, got "
                           f"{yaml_repr(value)}")
        return self._in_range(float(value))

    def _list(self, value: Any) -> tuple[Any, ...]:
        """A non-empty list of integers ("ints") or of [h, w] pairs ("sizes")."""
        form = "integers" if self.kind == "ints" else "[h, w] pairs"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value] if self.kind == "ints" else [[value, value]]
        if not isinstance(value, (list, tuple)) or not value:
            raise ArgError(f"{self.name} must be a non-empty list of {form}, got "
                           f"{yaml_repr(value)}")
        if self.kind == "ints":
            return tuple(self._in_range(self._int(v)) for v in value)
        pairs = []
        for i, item in enumerate(value):
            if not isinstance(item, (list, tuple)) or len(item) != 2:
                raise ArgError(f"{self.name}[{i}] must be a pair [h, w], got {yaml_repr(item)}")
            pairs.append((self._in_range(self._int(item[0])), self._in_range(self._int(item[1]))))
        return tuple(pairs)

    def _table(self, value: Any) -> tuple[tuple[int, ...], ...]:
        """A non-empty list of non-empty lists of distinct indices >= 0, each sorted."""
        if not isinstance(value, (list, tuple)) or not value:
            raise ArgError(f"{self.name} must be a list with one list of input indices per "
                           f"output, got {yaml_repr(value)}")
        rows = []
        for i, row in enumerate(value):
            if not isinstance(row, (list, tuple)) or not row:
                raise ArgError(f"{self.name}[{i}] must be a non-empty list of input indices, "
                               f"got {yaml_repr(row)}")
            items = [self._in_range(self._int(v)) for v in row]
            if len(set(items)) != len(items):
                raise ArgError(f"{self.name}[{i}] lists an input twice: {yaml_repr(row)}")
            rows.append(tuple(sorted(items)))
        return tuple(rows)

    def _int(self, value: Any) -> int:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)  # 4.0 is 4; the size limit below applies all the same
        if isinstance(value, bool) or not isinstance(value, int):
            extra = " or \"same\"/\"valid\"" if self.kind == "padding" else ""
            raise ArgError(f"{self.name} must be an integer{extra}, got {yaml_repr(value)}")
        if abs(value) > MAX_INT_ARG:
            raise ArgError(f"{self.name} = {value:.3g} is beyond any network's size "
                           f"(limit {MAX_INT_ARG:,})")
        return value

    def _in_range(self, value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise ArgError(f"{self.name} must be a finite number, got {value}")
        if self.min is not None and value < self.min:
            raise ArgError(f"{self.name} must be at least {_num(self.min)}, got {_num(value)}")
        if self.max is not None and (value >= self.max if self.max_open else value > self.max):
            bound = f"below {_num(self.max)}" if self.max_open else f"at most {_num(self.max)}"
            raise ArgError(f"{self.name} must be {bound}, got {_num(value)}")
        return value


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
