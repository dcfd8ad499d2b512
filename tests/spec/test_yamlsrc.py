"""cnncli.yamlsrc.parse_yaml: located plain data, the scalar table, merge keys, aliases and
the refusals (duplicate keys, tags, several documents, control characters, bombs)."""

from __future__ import annotations

import math
import time

import pytest
import yaml

from cnncli.errors import Mark, SpecError
from cnncli.spec import yamlsrc
from cnncli.spec.yamlsrc import MAX_DEPTH, MAX_NODES, YList, YMap, parse_yaml, plain_scalar

F = "f.yaml"


def at(line: int, col: int) -> Mark:
    return Mark(F, line, col)


def where(text: str, needle: str, nth: int = 1) -> Mark:
    """The 1-based mark of the nth occurrence of `needle` in `text`."""
    index = -1
    for _ in range(nth):
        index = text.index(needle, index + 1)
    return at(text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1)


def refused(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_yaml(text, F)
    return info.value


# -- marks -------------------------------------------------------------------------------

MARKS = """\
name: t
input: [3, 32, 32]
layers:
  - relu
  - conv: {out: 8, kernel: 3}
"""


def test_marks_are_one_based_line_and_column() -> None:
    data = parse_yaml(MARKS, F)
    assert isinstance(data, YMap)
    assert data.mark == at(1, 1)
    assert data.key_marks == {"name": at(1, 1), "input": at(2, 1), "layers": at(3, 1)}
    assert data.value_marks["name"] == at(1, 7)
    assert data.mark_of("name") == at(1, 7)
    assert data.mark_of("missing") == data.mark  # falls back to the mapping itself


def test_collections_know_where_they_start() -> None:
    data = parse_yaml(MARKS, F)
    shape = data["input"]
    assert isinstance(shape, YList) and shape == [3, 32, 32]
    assert shape.mark == where(MARKS, "[3")
    assert shape.item_marks == [where(MARKS, "3,"), where(MARKS, "32,"), where(MARKS, "32]")]
    layers = data["layers"]
    assert layers.mark == where(MARKS, "- relu")
    assert layers.item_marks[0] == where(MARKS, "relu")
    conv = layers[1]
    assert conv.mark == where(MARKS, "conv")
    assert conv["conv"].mark == where(MARKS, "{out")
    assert conv["conv"].key_marks == {"out": where(MARKS, "out"), "kernel": where(MARKS, "kernel")}
    assert conv["conv"].value_marks == {"out": where(MARKS, "8"), "kernel": where(MARKS, "3}")}
    assert layers.mark_of(99) == layers.mark


def test_collection_values_are_marked_where_they_start() -> None:
    data = parse_yaml(MARKS, F)
    assert data.value_marks["input"] == data["input"].mark == where(MARKS, "[3")
    assert data.value_marks["layers"] == data["layers"].mark == where(MARKS, "- relu")
    layers = data["layers"]
    assert layers.item_marks[1] == layers[1].mark == where(MARKS, "conv")
    assert layers[1].value_marks["conv"] == where(MARKS, "{out")


def test_columns_count_characters_not_bytes() -> None:
    text = 'a: "ééé" x: y\n'
    err = refused(text)
    assert err.mark == where(text, "x:")
    assert err.message == "text after a quoted value: put the whole value inside the quotes"


# -- scalars -----------------------------------------------------------------------------

@pytest.mark.parametrize("text,value", [
    ("", None), ("~", None), ("null", None), ("Null", None), ("NULL", None),
    ("true", True), ("True", True), ("TRUE", True),
    ("false", False), ("False", False), ("FALSE", False),
    # YAML 1.1 booleans are plain words here
    ("yes", "yes"), ("no", "no"), ("on", "on"), ("off", "off"), ("Yes", "Yes"), ("y", "y"),
    ("n", "n"),
    ("0", 0), ("1", 1), ("-1", -1), ("+7", 7), ("1_000", 1000), ("017", 17),
    ("1.5", 1.5), ("-0.25", -0.25), (".5", 0.5), ("5.", 5.0), ("+.5", 0.5),
    ("1e-3", 0.001), ("1E3", 1000.0), ("1e3", 1000.0), ("2.5e+2", 250.0),
    (".inf", math.inf), ("+.inf", math.inf), ("-.inf", -math.inf),
    # not numbers
    ("0x1f", "0x1f"), ("0o17", "0o17"), ("0b101", "0b101"), ("1:30", "1:30"),
    ("3x224x224", "3x224x224"), ("e3", "e3"), ("12e", "12e"), ("-", "-"), (".", "."),
    ("_1", "_1"), ("width * 2", "width * 2"), ("same", "same"),
])
def test_plain_scalar_table(text: str, value: object) -> None:
    got = plain_scalar(text)
    assert got == value and type(got) is type(value)
    if text not in ("", "-"):  # and the same through the parser ("k: -" is a list)
        parsed = parse_yaml(f"k: {text}\n", F)["k"]
        assert parsed == value and type(parsed) is type(value)


def test_nan() -> None:
    assert math.isnan(plain_scalar(".nan"))
    assert math.isnan(parse_yaml("k: .nan\n", F)["k"])


def test_one_e_minus_three_is_a_float_unlike_pyyaml() -> None:
    assert yaml.safe_load("eps: 1e-3")["eps"] == "1e-3"  # the trap this module avoids
    assert parse_yaml("eps: 1e-3\n", F)["eps"] == 0.001


@pytest.mark.parametrize("text", ['"1"', "'true'", '"yes"', "'1e-3'", '""', "'~'"])
def test_quoted_scalars_stay_text(text: str) -> None:
    assert parse_yaml(f"k: {text}\n", F)["k"] == yaml.safe_load(f"k: {text}")["k"]
    assert isinstance(parse_yaml(f"k: {text}\n", F)["k"], str)


def test_block_scalars_stay_text() -> None:
    data = parse_yaml("a: |\n  3\nb: >\n  true\n", F)
    assert data == {"a": "3\n", "b": "true\n"}


def test_keys_stay_text() -> None:
    data = parse_yaml("1: a\ntrue: b\nnull: c\n1e-3: d\n", F)
    assert list(data) == ["1", "true", "null", "1e-3"]


@pytest.mark.parametrize("text,value", [
    ("!!str 3", "3"), ("!!str true", "true"), ('!!int "3"', 3), ("!!float 3", 3.0),
    ("!!float 1e-3", 0.001), ("!!bool true", True), ('!!null ""', None), ("! 3", 3),
])
def test_core_tags(text: str, value: object) -> None:
    got = parse_yaml(f"k: {text}\n", F)["k"]
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text,words", [
    ("!!int abc", "'abc' is not a valid !!int"),
    ("!!int true", "'true' is not a valid !!int"),
    ("!!int 1.5", "'1.5' is not a valid !!int"),
    ("!!float abc", "'abc' is not a valid !!float"),
    ("!!bool yes", "'yes' is not a valid !!bool"),
    ("!!null 0", "'0' is not a valid !!null"),
])
def test_bad_core_tagged_scalars(text: str, words: str) -> None:
    source = f"a: 1\nk: {text}\n"
    err = refused(source)
    assert err.mark == where(source, "!!")
    assert words in err.message


@pytest.mark.parametrize("text", [
    "!!python/object/apply:os.system ['echo hi']", "!!python/name:os.system x",
    "!!python/object:collections.OrderedDict {}", "!!set {a, b}", "!!omap [a: 1]",
    "!!binary aGk=", "!!timestamp 2001-12-14", "!custom 3", "!custom {a: 1}", "!custom [1]",
])
def test_other_tags_refused(text: str) -> None:
    source = f"a: 1\nk: {text}\n"
    err = refused(source)
    assert err.mark == where(source, "!")
    assert "is not allowed in a spec" in err.message


def test_python_tag_at_document_root() -> None:
    err = refused("!!python/object/apply:os.system ['echo hi']\n")
    assert err.mark == at(1, 1)
    assert "python/object/apply:os.system" in err.message


# -- merge keys --------------------------------------------------------------------------

def test_merge_copies_missing_keys() -> None:
    text = "base: &b {x: 1, y: 2}\nuse: {<<: *b, z: 3}\n"
    data = parse_yaml(text, F)
    assert data["use"] == {"x": 1, "y": 2, "z": 3}
    assert "<<" not in data["use"]
    # merged keys keep their marks in the source mapping
    assert data["use"].key_marks["x"] == where(text, "x:")
    assert data["use"].value_marks["y"] == where(text, "2}")


def test_key_after_merge_overrides_it() -> None:
    text = "base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\n"
    data = parse_yaml(text, F)
    assert data["use"] == {"x": 1, "y": 3}
    assert data["use"].key_marks["y"] == where(text, "y:", 2)
    assert data["use"].value_marks["y"] == where(text, "3}")
    assert data["base"] == {"x": 1, "y": 2}  # the source is not changed


def test_key_before_merge_wins() -> None:
    data = parse_yaml("base: &b {x: 1, y: 2}\nuse: {y: 3, <<: *b}\n", F)
    assert data["use"] == {"y": 3, "x": 1}


def test_merge_list_earlier_mapping_wins() -> None:
    data = parse_yaml("a: &a {x: 1}\nb: &b {x: 2, z: 3}\nuse: {<<: [*a, *b]}\n", F)
    assert data["use"] == {"x": 1, "z": 3}


def test_merge_in_block_style() -> None:
    text = "defaults: &d\n  kernel: 3\n  padding: 1\nconv:\n  <<: *d\n  kernel: 5\n  out: 8\n"
    assert parse_yaml(text, F)["conv"] == {"kernel": 5, "padding": 1, "out": 8}


def test_merged_key_overridden_twice_is_a_duplicate() -> None:
    text = "base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3, y: 4}\n"
    err = refused(text)
    assert err.mark == where(text, "y:", 3)
    assert "duplicate key 'y' (first given at line 2)" in err.message


@pytest.mark.parametrize("value", ["3", "[1, 2]", "[{a: 1}, 2]"])
def test_merge_needs_mappings(value: str) -> None:
    text = f"use: {{<<: {value}}}\n"
    err = refused(text)
    assert err.mark.line == 1
    assert "a merge key (<<) takes a mapping or a list of mappings" in err.message


# -- anchors and aliases -----------------------------------------------------------------

def test_aliases_share_the_value() -> None:
    text = "a: &x [1, {k: v}]\nb: *x\nc: &s 7\nd: *s\n"
    data = parse_yaml(text, F)
    assert data["b"] is data["a"]
    assert data["b"][1] is data["a"][1]
    assert data["d"] == 7
    assert data.value_marks["b"] == where(text, "*x")


def test_anchor_can_be_redefined() -> None:
    data = parse_yaml("a: &x 1\nb: *x\nc: &x 2\nd: *x\n", F)
    assert data == {"a": 1, "b": 1, "c": 2, "d": 2}


def test_unknown_alias() -> None:
    text = "a: 1\nb: *nope\n"
    err = refused(text)
    assert err.mark == where(text, "*nope")
    assert "alias *nope refers to no earlier anchor" in err.message


def test_alias_bomb_fails_fast() -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    text = "\n".join(lines) + "\n"
    start = time.perf_counter()
    err = refused(text)
    assert time.perf_counter() - start < 0.5
    assert err.mark.line == 6  # a5: each alias is 111,111 values
    assert f"more than {MAX_NODES:,} values" in err.message


def test_aliases_below_the_bound_are_fine() -> None:
    text = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nb: [" + ", ".join(["*a"] * 100) + "]\n"
    data = parse_yaml(text, F)
    assert len(data["b"]) == 100 and all(item is data["a"] for item in data["b"])


# -- refusals ----------------------------------------------------------------------------

@pytest.mark.parametrize("text,key,first", [
    ("name: t\ninput: 1\nname: u\n", "name", 1),
    ("a:\n  x: 1\n  y: 2\n  x: 3\n", "x", 2),
    ("a: {x: 1, x: 2}\n", "x", 1),
    ("a: [{k: 1, k: 1}]\n", "k", 1),
])
def test_duplicate_key_at_second(text: str, key: str, first: int) -> None:
    err = refused(text)
    assert err.mark == where(text, f"{key}:", 2)
    assert err.message == f"duplicate key {key!r} (first given at line {first})"


@pytest.mark.parametrize("text,needle", [
    ("a: 1\n---\nb: 2\n", "---"),
    ("--- 1\n--- 2\n", "--- 2"),
    ("a: 1\n...\n---\nb: 2\n", "---"),
])
def test_second_document_refused(text: str, needle: str) -> None:
    err = refused(text)
    assert err.mark == where(text, needle)
    assert "one YAML document" in err.message


@pytest.mark.parametrize("text", ["---\na: 1\n", "a: 1\n...\n", "---\na: 1\n...\n"])
def test_one_explicit_document_is_fine(text: str) -> None:
    assert parse_yaml(text, F) == {"a": 1}


@pytest.mark.parametrize("text", ["", "\n", "# comment\n", "---\n"])
def test_empty_document_is_none(text: str) -> None:
    assert parse_yaml(text, F) is None


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x08", "\x1b", "\x7f", "\ufffe"])
def test_control_characters_refused_with_location(char: str) -> None:
    text = f"a: 1\nb: x{char}y\n"
    err = refused(text)
    assert err.mark == at(2, 5)
    assert f"U+{ord(char):04X}" in err.message
    assert "not allowed" in err.message


@pytest.mark.parametrize("before", ["é", "éééé", "日本語", "\U0001f600"])
def test_control_character_location_after_non_ascii(before: str) -> None:
    text = f"a: {before}\nb: \x07\n"
    assert refused(text).mark == at(2, 4)


@pytest.mark.parametrize("text", ["[1]: 2\n", "{a: 1}: 2\n", "? [1, 2]\n: 3\n"])
def test_keys_must_be_plain_names(text: str) -> None:
    err = refused(text)
    assert err.mark.line == 1
    assert "mapping keys must be plain names" in err.message


def test_nesting_limit_exact() -> None:
    # The root mapping is level 1: 63 brackets reach level 64, the limit.
    ok = "x: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"
    assert parse_yaml(ok, F)["x"] is not None
    bad = "x: " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n"
    err = refused(bad)
    assert err.mark == at(1, 4 + MAX_DEPTH - 1)
    assert f"nesting deeper than {MAX_DEPTH} levels" in err.message


def test_size_limit() -> None:
    err = refused("#" * (yamlsrc.MAX_BYTES + 1))
    assert err.mark == at(1, 1)
    assert "larger than 4 MiB" in err.message


@pytest.mark.parametrize("text,needle,offset,words", [
    ("a: b: c\n", "b:", 1,
     "a colon inside a value: put the value in quotes, or the key on a line of its own"),
    ("a: x\n b: c\n", "b:", 1, "a key where the line above has not ended its value: check "
     "this line's indentation, or the colon the line above is missing"),
    ("a:1\nb: 2\n", "b:", 1, "the line above writes a:1 with no space after the colon, so "
     "YAML reads it as text, not a key: write a: 1"),
    ("a:\n  - conv:\n      out:8\n      kernel: 3\n", "kernel:", 6, "the line above writes "
     "out:8 with no space after the colon, so YAML reads it as text, not a key: write out: 8"),
    ("a: http://x\n b: c\n", "b:", 1, "a key where the line above has not ended its value: "
     "check this line's indentation, or the colon the line above is missing"),
    ("a: 1\nb: {x: 1]\n", "]", 0,
     "the '{' opened at line 2, column 4 is not closed, or a ',' is missing between its items"),
    ("a: [1, 2\nb: 3\n", "b:", 1,
     "the '[' opened at line 1, column 4 is not closed, or a ',' is missing between its items"),
    ("a: 1\n@b: 2\n", "@", 0, "a value cannot start with '@' (YAML reserves it): put the "
     "value in quotes"),
    ("a: `b`\n", "`", 0, "a value cannot start with '`' (YAML reserves it): put the value in "
     "quotes"),
    ("a:\n\t- 1\n", "\t", 0, "a tab is used for indentation here; YAML needs spaces"),
    ("a: 'b\nc: 1\n", "'b", 0, "the quote opened here is never closed"),
    ("a: [1]]\n", "]]", 1, "a closing ']' with no bracket open: remove it"),
    ("a:\n  - 1\n - 2\n", " - 2", 1, "a list item indented differently from the items above "
     "it: line the '- ' up with theirs"),
    ("a:\n    b: 1\n  c: 2\n", "c:", 0, "this line's indentation matches none of the keys "
     "above it: indent it as far as the keys it belongs with"),
    ("a: - 1\n", "- 1", 0, "a list item ('- ') on the same line as its key: start the list on "
     "the next line, indented, or write it as [a, b]"),
    ("a: 1\nb\n  - 2\n", "b\n", 0, "the key here has no colon: write `key: value`"),
    ("a: *\n", "*", 0, "'*' starts an alias (*name) in YAML: put the value in quotes"),
])
def test_syntax_errors_in_plain_words(text: str, needle: str, offset: int, words: str) -> None:
    err = refused(text)
    mark = where(text, needle)
    assert (err.mark, err.message) == (at(mark.line, mark.col + offset), words)


def test_file_name_is_in_every_mark() -> None:
    err = pytest.raises(SpecError, parse_yaml, "a: 1\na: 2\n", "some/dir/spec.yaml").value
    assert str(err) == "some/dir/spec.yaml:2:1: duplicate key 'a' (first given at line 1)"
