"""A small, safe evaluator for the arithmetic in specs (`width * 4`, `cfg[s][1]`).

Expressions are parsed with `ast` (parsing runs no code) and walked here; only numbers,
strings, names of spec parameters, arithmetic, comparisons, `and`/`or`/`not`,
`a if cond else b`, indexing and a few named functions are allowed. Numbers are bounded so
that `10 ** 10 ** 10` fails at once instead of eating the machine. Never Python `eval`.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import did_you_mean

MAX_INT = 10**18
MAX_LENGTH = 400  # characters in one expression

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}


def _round_int(x: Any) -> int:
    """Round half up (2.5 -> 3), as people round sizes; Python's round() halves to even."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"needs a number, got {x!r}")
    return math.floor(x + 0.5)


def make_divisible(value: Any, divisor: Any = 8, min_value: Any = None) -> int:
    """The nearest multiple of `divisor` (at least `min_value`, default `divisor`), but not
    below 90% of `value`: MobileNet's and EfficientNet's rule for scaled channel widths."""
    if not (_is_number(value) and _is_number(divisor)) or divisor <= 0:
        raise ValueError("needs a number and a positive divisor")
    floor = divisor if min_value is None else min_value
    rounded = max(floor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _positive(x: Any) -> float:
    if not _is_number(x):
        raise TypeError(f"needs a number, got {x!r}")
    if x <= 0:
        raise ValueError(f"the logarithm is defined above 0 only, got {x}")
    return x


def log(x: Any, base: Any = None) -> float:
    """The natural logarithm, or to `base` (RegNet's widths: log(w / w0) / log(wm))."""
    if base is None:
        return math.log(_positive(x))
    base = _positive(base)
    if base == 1:
        raise ValueError("a logarithm's base cannot be 1")
    return math.log(_positive(x), base)


def log2(x: Any) -> float:
    return math.log2(_positive(x))


def log10(x: Any) -> float:
    return math.log10(_positive(x))


MAX_EXP = 700  # e**700 is about 1e304, near the largest float


def exp(x: Any) -> float:
    if not _is_number(x):
        raise TypeError(f"needs a number, got {x!r}")
    if x > MAX_EXP:
        raise ValueError(f"exp({x}) is too large (limit exp({MAX_EXP}))")
    return math.exp(x)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min, "max": max, "abs": abs, "len": len, "int": int, "float": float,
    "round": _round_int, "floor": math.floor, "ceil": math.ceil, "sqrt": math.sqrt,
    "sum": sum, "make_divisible": make_divisible, "log": log, "log2": log2, "log10": log10,
    "exp": exp,
}


class ExprError(Exception):
    """A bad expression; the caller adds the location."""


def evaluate(text: str, names: Mapping[str, Any]) -> Any:
    """Evaluate `text` with `names` bound; raise ExprError with a plain-language reason."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    if text in names and text.isidentifier() and text[0] != "_":  # a bare name, as most are
        return _check(names[text])
    try:
        tree = _parsed(text.strip())
    except SyntaxError as exc:
        raise ExprError(f"cannot parse expression {text!r}: {exc.msg}") from None
    except (ValueError, MemoryError, RecursionError):
        raise ExprError(f"cannot parse expression {text!r}") from None
    try:
        return _Evaluator(names).visit(tree.body)
    except RecursionError:
        raise ExprError("expression nests too deeply") from None


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> ast.Expression:
    """The tree of an expression, parsed once per text: a repeated block evaluates the same
    few texts for every copy (ResNet-50: 161 values, 16 texts). The walk never changes it."""
    return ast.parse(text, mode="eval")


class _Evaluator:
    def __init__(self, names: Mapping[str, Any]):
        self.names = names

    def visit(self, node: ast.AST) -> Any:
        method = _VISITS.get(type(node))
        if method is None:
            method = getattr(_Evaluator, "visit_" + type(node).__name__, None)
            if method is None:
                raise ExprError(f"{_describe(node)} is not allowed in a spec expression")
            _VISITS[type(node)] = method
        return _check(method(self, node))

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, (bool, int, float, str)):
            return node.value
        raise ExprError(f"constant {node.value!r} is not allowed")

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id.startswith("_"):
            raise ExprError(f"name {node.id!r} is not allowed")
        if node.id in self.names:
            return self.names[node.id]
        if node.id in ("true", "True"):
            return True
        if node.id in ("false", "False"):
            return False
        known = sorted(self.names)
        raise ExprError(f"unknown name {node.id!r}{did_you_mean(node.id, known)}"
                        + ("" if known else " (no parameters are defined here)"))

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        op = _BINARY.get(type(node.op))
        if op is None:
            raise ExprError(f"operator {type(node.op).__name__} is not allowed")
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        if isinstance(left, str) or isinstance(right, str):
            if not (isinstance(node.op, ast.Add) and isinstance(left, str)
                    and isinstance(right, str)):
                raise ExprError("only + joins text; other arithmetic needs numbers")
        elif isinstance(left, list) or isinstance(right, list):
            raise ExprError("arithmetic on a list is not allowed")
        try:
            return op(left, right)
        except ZeroDivisionError:
            raise ExprError("division by zero") from None
        except (OverflowError, TypeError, ValueError) as exc:
            raise ExprError(str(exc)) from None

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        if not _is_number(value):
            raise ExprError("unary + and - need a number")
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return value
        raise ExprError("bitwise operators are not allowed")

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        result = None
        for operand in node.values:
            result = self.visit(operand)
            if isinstance(node.op, ast.And) and not result:
                return result
            if isinstance(node.op, ast.Or) and result:
                return result
        return result

    def visit_Compare(self, node: ast.Compare) -> Any:
        left = self.visit(node.left)
        for op_node, right_node in zip(node.ops, node.comparators):
            right = self.visit(right_node)
            op = _COMPARE.get(type(op_node))
            if op is None:
                raise ExprError(f"comparison {type(op_node).__name__} is not allowed")
            try:
                if not op(left, right):
                    return False
            except TypeError:
                raise ExprError(f"cannot compare {left!r} with {right!r}") from None
            left = right
        return True

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        container = self.visit(node.value)
        if not isinstance(container, list):
            raise ExprError("only lists can be indexed")
        if isinstance(node.slice, ast.Slice):
            if node.slice.step is not None:
                raise ExprError("a slice takes no step: write list[start:stop]")
            ends = [None if e is None else self.visit(e) for e in (node.slice.lower,
                                                                     node.slice.upper)]
            if any(e is not None and (not isinstance(e, int) or isinstance(e, bool))
                   for e in ends):
                raise ExprError("slice ends must be integers")
            return container[ends[0]:ends[1]]
        index = self.visit(node.slice)
        if not isinstance(index, int) or isinstance(index, bool):
            raise ExprError("a list index must be an integer")
        if not -len(container) <= index < len(container):
            raise ExprError(f"index {index} is outside the list of {len(container)} items")
        return container[index]

    def visit_List(self, node: ast.List) -> Any:
        return [self.visit(item) for item in node.elts]

    def visit_Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name):
            raise ExprError(f"calling the result of {_describe(node.func)} is not allowed; "
                            f"only named functions: {', '.join(sorted(FUNCTIONS))}")
        if node.func.id not in FUNCTIONS:
            name = node.func.id
            raise ExprError(f"function {name!r} is not available"
                            f"{did_you_mean(name, sorted(FUNCTIONS))}; "
                            f"available: {', '.join(sorted(FUNCTIONS))}")
        if node.keywords:
            raise ExprError("keyword arguments are not allowed")
        args = [self.visit(arg) for arg in node.args]
        try:
            return FUNCTIONS[node.func.id](*args)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ExprError(f"{node.func.id}(): {exc}") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_power(base: Any, exponent: Any) -> None:
    """Refuse powers whose result would pass 2**64 before computing them."""
    if not (_is_number(base) and _is_number(exponent)):
        raise ExprError("** needs numbers")
    if base in (0, 1, -1):
        return
    if exponent * math.log2(abs(base)) > 64:
        raise ExprError(f"{base} ** {exponent} is too large")


#: each node type's visit method, looked up once (a ResNet-50 evaluates some 700 nodes)
_VISITS: dict[type, Callable[[_Evaluator, Any], Any]] = {}


def _check(value: Any) -> Any:
    kind = type(value)
    if kind is int and -MAX_INT <= value <= MAX_INT or kind is bool:  # the common case
        return value
    if isinstance(value, complex):
        raise ExprError("result is a complex number")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise ExprError(f"number {float(value):.3g} is too large (limit {MAX_INT:.0e})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ExprError(f"result {value} is not a finite number")
    if isinstance(value, str) and len(value) > MAX_LENGTH:
        raise ExprError("text result is too long")
    if isinstance(value, list) and len(value) > 10_000:
        raise ExprError("list result is too long")
    return value


def _describe(node: ast.AST) -> str:
    kinds = {"Attribute": "attribute access", "Subscript": "indexing", "Call": "a call",
             "Lambda": "lambda", "ListComp": "a comprehension",
             "GeneratorExp": "a generator", "Dict": "a mapping", "Set": "a set",
             "Tuple": "a tuple", "Starred": "unpacking", "NamedExpr": "assignment",
             "JoinedStr": "an f-string", "Await": "await", "Yield": "yield"}
    return kinds.get(type(node).__name__, type(node).__name__)
