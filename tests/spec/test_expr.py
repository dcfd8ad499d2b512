"""cnncli.expr.evaluate: the arithmetic allowed in specs, and every form it refuses."""

from __future__ import annotations

import time

import pytest

from cnncli.spec.expr import FUNCTIONS, MAX_INT, MAX_LENGTH, ExprError, evaluate

NAMES = {"width": 64, "cfg": [[1, 2], [3, 4]], "s": 1, "label": "ab", "flag": True,
         "rate": 0.5, "depths": [3, 4, 6, 3]}


def refused(text: str, names: dict | None = None) -> str:
    with pytest.raises(ExprError) as info:
        evaluate(text, NAMES if names is None else names)
    return str(info.value)


# -- allowed -----------------------------------------------------------------------------

@pytest.mark.parametrize("text,value", [
    # literals and names
    ("7", 7), ("2.5", 2.5), ("1e-3", 0.001), ("'x'", "x"), ('"x"', "x"), ("width", 64),
    ("  width  ", 64), ("true", True), ("True", True), ("false", False), ("False", False),
    ("[1, 2, width]", [1, 2, 64]), ("[]", []),
    # arithmetic
    ("width * 4", 256), ("width + 1", 65), ("width - 65", -1), ("width / 3", 64 / 3),
    ("width // 3", 21), ("-7 // 2", -4), ("width % 5", 4), ("2 ** 10", 1024), ("2 ** -1", 0.5),
    ("-width", -64), ("+width", 64), ("(width + 2) * 2", 132), ("rate * 4", 2.0),
    ("10 ** 18", MAX_INT), ("10 ** 9 * 10 ** 9", MAX_INT), ("-10 ** 18", -MAX_INT),
    # text
    ("label + 'c'", "abc"),
    # logic and comparison
    ("not flag", False), ("flag and 3", 3), ("0 or 5", 5), ("1 < 2 < 3", True),
    ("3 > 2 > 5", False), ("1 == 1.0", True), ("1 != 2", True), ("width >= 64", True),
    ("width <= 63", False), ("'a' < 'b'", True), ("[1] < [2]", True),
    ("width if flag else 0", 64), ("1 if s == 0 else 2", 2), ("1 if [] else 2", 2),
    # indexing
    ("cfg[s][1]", 4), ("cfg[-1][0]", 3), ("depths[0]", 3), ("depths[-4]", 3),
    ("[10, 20][s]", 20),
    # functions
    ("min(1, 2)", 1), ("max(depths)", 6), ("abs(-3)", 3), ("len(depths)", 4), ("len('abc')", 3),
    ("int(3.7)", 3), ("int(-3.7)", -3), ("float(2)", 2.0), ("round(3.5)", 4), ("round(2.4)", 2),
    ("floor(2.7)", 2), ("floor(-0.5)", -1), ("ceil(2.1)", 3), ("sqrt(16)", 4.0),
    ("log2(8)", 3.0), ("log10(1000)", 3.0), ("log(1)", 0.0), ("log(8, 2)", 3.0),
    ("exp(0)", 1.0), ("round(log(exp(3)))", 3), ("exp(-1000)", 0.0),
    # RegNet's quantised widths (Radosavovic et al. 2020): w0 = 24, wm = 2.49, width 60
    ("round(log(60 / 24) / log(2.49))", 1),
    ("sum(depths)", 16), ("max(width // 2, 8)", 32),
])
def test_allowed(text: str, value: object) -> None:
    got = evaluate(text, NAMES)
    assert got == value and type(got) is type(value)


def test_round_gives_an_int() -> None:
    assert isinstance(evaluate("round(2.6)", {}), int)


def test_names_are_not_changed() -> None:
    names = {"cfg": [[1, 2]]}
    evaluate("cfg[0][0] + 1", names)
    assert names == {"cfg": [[1, 2]]}


def test_parameter_named_like_a_constant_wins() -> None:
    assert evaluate("true", {"true": 5}) == 5


def test_functions_are_the_documented_set() -> None:
    assert sorted(FUNCTIONS) == ["abs", "ceil", "exp", "float", "floor", "int", "len", "log",
                                 "log10", "log2", "make_divisible", "max", "min", "round",
                                 "sqrt", "sum"]


@pytest.mark.parametrize("text,value", [
    # torchvision's _make_divisible, as MobileNet and EfficientNet scale widths
    ("make_divisible(32 * 1.0, 8)", 32), ("make_divisible(32 * 1.1, 8)", 32),
    ("make_divisible(40 * 1.4, 8)", 56), ("make_divisible(16 // 4, 8)", 8),
    ("make_divisible(96 * 0.75, 8)", 72), ("make_divisible(27, 8)", 32),
    ("make_divisible(33, 8)", 32), ("make_divisible(10, 8)", 16),  # 8 < 0.9 * 10
    ("make_divisible(0.5, 8, 1)", 1), ("make_divisible(3, 8, 1)", 9),
])
def test_make_divisible(text: str, value: int) -> None:
    assert evaluate(text, {}) == value


def test_slices_of_a_list() -> None:
    names = {"depths": [1, 2, 2, 3]}
    assert evaluate("sum(depths[:2])", names) == 3
    assert evaluate("depths[1:]", names) == [2, 2, 3]
    assert evaluate("depths[-1:]", names) == [3]
    with pytest.raises(ExprError, match="a slice takes no step"):
        evaluate("depths[::2]", names)
    with pytest.raises(ExprError, match="slice ends must be integers"):
        evaluate("depths[:1.5]", names)


# -- refused -----------------------------------------------------------------------------

@pytest.mark.parametrize("text,words", [
    # Python features that are not arithmetic
    ("().__class__", "attribute access is not allowed in a spec expression"),
    ("width.real", "attribute access is not allowed"),
    ("().__class__.__bases__[0].__subclasses__()", "is not allowed"),
    ("lambda: 1", "lambda is not allowed"),
    ("[i for i in depths]", "a comprehension is not allowed"),
    ("(i for i in depths)", "a generator is not allowed"),
    ("{1: 2}", "a mapping is not allowed"),
    ("{1}", "a set is not allowed"),
    ("(1, 2)", "a tuple is not allowed"),
    ("[*depths]", "unpacking is not allowed"),
    ("(y := 3)", "assignment is not allowed"),
    ("f'{width}'", "an f-string is not allowed"),
    ("await width", "await is not allowed"),
    ("yield 1", "cannot parse expression"),
    ("None", "constant None is not allowed"),
    ("b'x'", "constant b'x' is not allowed"),
    ("...", "constant Ellipsis is not allowed"),
    ("1j", "constant 1j is not allowed"),
    # names
    ("_x", "name '_x' is not allowed"),
    ("__import__", "name '__import__' is not allowed"),
    ("__builtins__", "name '__builtins__' is not allowed"),
    ("widht", "unknown name 'widht' (did you mean 'width'?)"),
    ("print", "unknown name 'print'"),
    # functions
    ("open('x')", "function 'open' is not available; available: abs, ceil, exp, float, "
                  "floor, int, len, log, log10, log2, make_divisible, max, min, round, sqrt, "
                  "sum"),
    ("log(0)", "log(): the logarithm is defined above 0 only, got 0"),
    ("log(-2)", "log(): the logarithm is defined above 0 only, got -2"),
    ("log2(0)", "log2(): the logarithm is defined above 0 only, got 0"),
    ("log10(-1.5)", "log10(): the logarithm is defined above 0 only, got -1.5"),
    ("log(8, 1)", "log(): a logarithm's base cannot be 1"),
    ("log(8, 0)", "log(): the logarithm is defined above 0 only, got 0"),
    ("log('a')", "log(): needs a number, got 'a'"),
    ("log(depths)", "log(): needs a number"),
    ("exp(1000)", "exp(): exp(1000) is too large (limit exp(700))"),
    ("exp(800.5)", "exp(): exp(800.5) is too large"),
    ("exp('a')", "exp(): needs a number, got 'a'"),
    ("eval('1')", "function 'eval' is not available"),
    ("__import__('os')", "function '__import__' is not available"),
    ("getattr(width, 'real')", "function 'getattr' is not available"),
    ("mn(1, 2)", "function 'mn' is not available (did you mean 'min'?)"),
    ("width(1)", "function 'width' is not available"),
    ("'x'.upper()", "is not allowed"),
    ("min(1, key=abs)", "keyword arguments are not allowed"),
    ("max([])", "max(): "),
    ("sqrt(-1)", "sqrt(): math domain error"),
    ("int('x')", "int(): "),
    ("len(3)", "len(): "),
    # operators
    ("1 | 2", "operator BitOr is not allowed"),
    ("1 & 2", "operator BitAnd is not allowed"),
    ("1 ^ 2", "operator BitXor is not allowed"),
    ("1 << 2", "operator LShift is not allowed"),
    ("1 >> 2", "operator RShift is not allowed"),
    ("~1", "bitwise operators are not allowed"),
    ("width @ width", "operator MatMult is not allowed"),
    ("1 is 1", "comparison Is is not allowed"),
    ("1 in depths", "comparison In is not allowed"),
    ("1 not in depths", "comparison NotIn is not allowed"),
    # arithmetic that cannot be done
    ("width / 0", "division by zero"),
    ("width // 0", "division by zero"),
    ("width % 0", "division by zero"),
    ("1.5 / 0", "division by zero"),
    ("'a' * 3", "only + joins text"),
    ("label - 'a'", "only + joins text"),
    ("label + 1", "only + joins text"),
    ("depths + depths", "arithmetic on a list is not allowed"),
    ("[1] * 3", "arithmetic on a list is not allowed"),
    ("-'a'", "unary + and - need a number"),
    ("-depths", "unary + and - need a number"),
    ("2 ** 'a'", "** needs numbers"),
    ("1 < 'a'", "cannot compare 1 with 'a'"),
    ("depths < 1", "cannot compare"),
    ("(-1) ** 0.5", "result is a complex number"),
    ("1e308 * 10", "is not a finite number"),
    ("1e309", "is not a finite number"),
    ("float('inf')", "is not a finite number"),
    ("float('nan')", "is not a finite number"),
    # indexing
    ("depths[4]", "index 4 is outside the list of 4 items"),
    ("depths[-5]", "index -5 is outside the list of 4 items"),
    ("width[0]", "only lists can be indexed"),
    ("cfg[0][0][0]", "only lists can be indexed"),
    ("depths['a']", "a list index must be an integer"),
    ("depths[flag]", "a list index must be an integer"),
    ("depths[0.0]", "a list index must be an integer"),
    # syntax
    ("width +", "cannot parse expression 'width +'"),
    ("", "cannot parse expression"),
    ("1 = 2", "cannot parse expression"),
    ("1\x002", "cannot parse expression"),
])
def test_refused(text: str, words: str) -> None:
    assert words in refused(text)


def test_unknown_name_without_parameters_says_so() -> None:
    assert refused("x", {}) == "unknown name 'x' (no parameters are defined here)"


def test_unknown_name_far_from_any_parameter() -> None:
    msg = refused("zzz")
    assert msg == "unknown name 'zzz'"


@pytest.mark.parametrize("text", ["10**10**10", "9**9**9", "2**64**64", "10**(10**10)",
                                  "2**65", "100 ** 10", "(10 ** 9) ** 3", "1.5 ** 200",
                                  "2.0 ** 100"])
def test_huge_powers_fail_at_once(text: str) -> None:
    start = time.perf_counter()
    msg = refused(text)
    assert time.perf_counter() - start < 0.1
    assert "is too large" in msg


@pytest.mark.parametrize("text", ["10 ** 18 + 1", "-10 ** 18 - 1", "10 ** 9 * 10 ** 10",
                                  "2 ** 64", "(-2) ** 64", "ceil(1e300)", "int(1e19)"])
def test_results_beyond_the_integer_bound(text: str) -> None:
    assert "is too large (limit 1e+18)" in refused(text)


def test_expression_length_limit() -> None:
    ok = "1" + "+1" * ((MAX_LENGTH - 1) // 2)
    assert len(ok) <= MAX_LENGTH
    assert evaluate(ok, {}) == (MAX_LENGTH - 1) // 2 + 1
    assert refused("1" * (MAX_LENGTH + 1)) == f"expression longer than {MAX_LENGTH} characters"


def test_text_result_length_limit() -> None:
    names = {"t": "x" * 300}
    assert len(evaluate("t", names)) == 300
    assert refused("t + t", names) == "text result is too long"


@pytest.mark.parametrize("text,value", [
    ("-" * 399 + "1", -1), ("(" * 150 + "1" + ")" * 150, 1), ("not " * 99 + "1", False),
    ("1" + "+1" * 199, 200),
])
def test_deep_but_short_expressions(text: str, value: object) -> None:
    assert evaluate(text, {}) == value


def test_deeply_nested_list() -> None:
    value = evaluate("[" * 199 + "]" * 199, {})
    for _ in range(198):
        assert isinstance(value, list) and len(value) == 1
        value = value[0]
    assert value == []


def test_never_runs_code(tmp_path) -> None:
    marker = tmp_path / "ran"
    for text in [f"open({str(marker)!r}, 'w')", f"__import__('os').system('touch {marker}')",
                 f"().__class__.__base__.__subclasses__()[0]('{marker}')"]:
        with pytest.raises(ExprError):
            evaluate(text, {})
    assert not marker.exists()
