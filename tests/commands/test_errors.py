"""Every kind of bad input a user can give: one located sentence on stderr, exit status 2,
never a traceback.

Each test writes a small spec, runs `cnncli check` in-process and compares the
`FILE:LINE:COL` (computed from the text written, not copied from the output), the layer
path and the key words of the message.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import run_cli

from cnncli.api import load

# -- helpers -----------------------------------------------------------------------------


run = run_cli  # in-process CLI: (exit status, stdout, stderr)


def where(text: str, needle: str, nth: int = 1) -> tuple[int, int]:
    """1-based (line, column) of the first character of the nth occurrence of `needle`."""
    index = -1
    for _ in range(nth):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, col


class Spec:
    """A spec file written into tmp_path, with its exact text kept for computing marks."""

    def __init__(self, tmp_path: Path, text: str, name: str = "spec.yaml"):
        self.text = text
        self.path = str(tmp_path / name)
        Path(self.path).write_text(text, encoding="utf-8")

    def at(self, needle: str, nth: int = 1) -> str:
        line, col = where(self.text, needle, nth)
        return f"{self.path}:{line}:{col}"


@pytest.fixture
def spec(tmp_path: Path):
    return lambda text, name="spec.yaml": Spec(tmp_path, text, name)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    return lambda *args: run(list(args), capsys)


def error_line(code: int, err: str) -> str:
    """Check the shape every failure shares and return the message without 'error: '."""
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    return lines[0][len("error: "):]


def fails(cli, s: Spec, *extra: str) -> str:
    code, out, err = cli("check", s.path, *extra)
    assert out == ""
    return error_line(code, err)


HEAD = "name: t\ninput: [3, 32, 32]\nlayers:\n"


# -- YAML syntax -------------------------------------------------------------------------

@pytest.mark.parametrize("body,needle,nth,offset,words", [
    # the second '}' is the stray one
    ("  - conv: {out: 8, kernel: 3}}\n", "}}", 1, 1,
     "a closing '}' with no bracket open: remove it"),
    ("\t- relu\n", "\t", 1, 0, "a tab is used for indentation here; YAML needs spaces"),
    # the '-' indented one column less than the list it continues
    ("  - relu\n - relu\n", " - relu\n", 2, 1,
     "a list item indented differently from the items above it: line the '- ' up with theirs"),
])
def test_yaml_syntax_error(cli, spec, body: str, needle: str, nth: int, offset: int,
                           words: str) -> None:
    s = spec(HEAD + body)
    msg = fails(cli, s)
    line, col = where(s.text, needle, nth)
    assert msg == f"{s.path}:{line}:{col + offset}: {words}", msg


# -- layer types and options -------------------------------------------------------------

def test_unknown_layer_type_suggests(cli, spec) -> None:
    s = spec(HEAD + "  - conv: {out: 8, kernel: 3}\n  - rleu\n  - cnov: {out: 8, kernel: 3}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('rleu')}: "), msg
    assert "unknown layer type 'rleu'" in msg
    assert "did you mean 'relu'" in msg


def test_unknown_layer_type_with_options_suggests(cli, spec) -> None:
    s = spec(HEAD + "  - cnov: {out: 8, kernel: 3}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('cnov')}: "), msg
    assert "unknown layer type 'cnov' (did you mean 'conv'?)" in msg


def test_unknown_option_suggests(cli, spec) -> None:
    s = spec(HEAD + "  - relu\n  - conv: {out: 8, kernel: 3, strid: 2}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('strid')}: layer 1: "), msg
    assert "conv has no option 'strid'" in msg
    assert "did you mean 'stride'" in msg
    assert "its options: out, kernel, stride" in msg


# -- wrong types -------------------------------------------------------------------------

@pytest.mark.parametrize("value,words", [
    ("2.5", "kernel must be an integer, got 2.5"),
    (".inf", "kernel must be an integer, got inf"),
    ("true", "kernel must be an integer"),
])
def test_wrong_type_for_int_option(cli, spec, value: str, words: str) -> None:
    s = spec(HEAD + f"  - conv: {{name: c1, out: 8, kernel: {value}}}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at(value)}: layer c1: conv: "), msg
    assert words in msg


@pytest.mark.parametrize("text,needle,words", [
    (HEAD + "  - conv: {name: c1, out: 8, kernel: [3, 3, 3]}\n", "[3, 3, 3]",
     "layer c1: conv: kernel must be one integer or a pair [h, w], got a list of 3"),
    (HEAD + "  - conv: {name: c1, out: 8, kernel: [1.5, 3]}\n", "[1.5",
     "layer c1: conv: kernel must be an integer, got 1.5"),
    (HEAD + "  - conv: {name: c1, out: 8, kernel: 3, padding: [1, -1]}\n", "[1, -1]",
     "layer c1: conv: padding must be at least 0, got -1"),
    ("name: t\ninput: [3, 0, 8]\nlayers: [relu]\n", "[3, 0",
     "input must be [C, H, W] (or [F]) of positive integers, got [3, 0, 8]"),
    ("name: t\ninput:\n  - 3\n  - 0\n  - 8\nlayers: [relu]\n", "- 3",
     "input must be [C, H, W] (or [F]) of positive integers, got [3, 0, 8]"),
    (HEAD + "  - relu\n  - {relu: 1, tanh: 2}\n", "{relu: 1",
     "a layer entry is a mapping with one key"),
])
def test_error_in_list_value_points_at_its_start(cli, spec, text: str, needle: str,
                                                 words: str) -> None:
    s = spec(text)
    msg = fails(cli, s)
    assert words in msg
    assert msg.startswith(f"{s.at(needle)}: "), msg


def test_quoted_text_for_int_option_is_an_unknown_name(cli, spec) -> None:
    # Text values are expressions (`out: width * 2`), so "abc" is read as a name.
    s = spec(HEAD + '  - conv: {out: 8, kernel: "abc"}\n')
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at(chr(34) + 'abc')}: "), msg
    assert "unknown name 'abc'" in msg


def test_bool_option_given_a_number(cli, spec) -> None:
    s = spec(HEAD + "  - conv: {name: c1, out: 8, kernel: 3, bias: 1}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('1}')}: layer c1: conv: "), msg
    assert "bias must be true or false, got 1" in msg


@pytest.mark.parametrize("word", ["yes", "no", "on", "off"])
def test_yaml11_booleans_are_not_booleans(cli, spec, word: str) -> None:
    s = spec(HEAD + f"  - conv: {{name: c1, out: 8, kernel: 3, bias: {word}}}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at(word + '}')}: "), msg
    assert repr(word) in msg


@pytest.mark.parametrize("word", ["yes", "off"])
def test_yaml11_boolean_word_gets_true_or_false_hint(cli, spec, word: str) -> None:
    s = spec(HEAD + f"  - conv: {{name: c1, out: 8, kernel: 3, bias: {word}}}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at(word + '}')}: layer c1: conv: "), msg
    assert "true or false" in msg


def test_name_on_is_a_plain_name(cli, spec) -> None:
    """`on`/`yes` stay strings: fine as layer and network names."""
    s = spec("name: on\ninput: [3, 8, 8]\nlayers:\n  - relu: {name: on}\n"
             "  - relu: {name: yes}\n  - relu: {name: off}\n")
    code, out, err = cli("summary", s.path, "-f", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["name"] == "on"
    assert [layer["path"] for layer in doc["layers"]] == ["on", "yes", "off"]


# -- out-of-range values -----------------------------------------------------------------

@pytest.mark.parametrize("entry,needle,words", [
    ("conv: {name: c1, out: 8, kernel: 0}", "0}", "conv: kernel must be at least 1, got 0"),
    ("conv: {name: c1, out: 8, kernel: 3, stride: -1}", "-1",
     "conv: stride must be at least 1, got -1"),
    ("conv: {name: c1, out: 0, kernel: 3}", "0,", "conv: out must be at least 1, got 0"),
    ("dropout: {name: c1, p: 1.0}", "1.0", "dropout: p must be below 1, got 1"),
    ("dropout: {name: c1, p: -0.1}", "-0.1", "dropout: p must be at least 0, got -0.1"),
    ("dropout: {name: c1, p: .nan}", ".nan", "p must be a finite number"),
    ("batchnorm: {name: c1, momentum: 2}", "2}", "momentum must be at most 1, got 2"),
])
def test_out_of_range_value(cli, spec, entry: str, needle: str, words: str) -> None:
    s = spec(HEAD + f"  - {entry}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at(needle)}: layer c1: "), msg
    assert words in msg


def test_groups_must_divide_out(cli, spec) -> None:
    s = spec(HEAD + "  - conv: {name: c1, out: 8, kernel: 3, groups: 3}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('conv')}: layer c1: "), msg
    assert "groups=3 must divide out=8" in msg


def test_groups_must_divide_input_channels(cli, spec) -> None:
    s = spec(HEAD + "  - conv: {name: c1, out: 9, kernel: 3, groups: 9}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('conv')}: layer c1: "), msg
    assert "on input 3x32x32" in msg
    assert "groups=9 must divide the 3 input channels" in msg


def test_strided_same_padding(cli, spec) -> None:
    s = spec(HEAD + "  - conv: {name: c1, out: 8, kernel: 3, padding: same, stride: 2}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('conv')}: layer c1: "), msg
    assert 'padding "same" needs stride 1' in msg


@pytest.mark.parametrize("table,needle,words", [
    ("[[0, 1], [2]]", "conv", "connections has 2 rows but out is 3"),
    ("[[0], [1], [0, 3]]", "conv", "connections[2] reads input map 3 but the input has 3 maps"),
    ("[[0], [1], [0, 0]]", "[[", "connections[2] lists an input twice: [0, 0]"),
    ("[[0], [], [1]]", "[[", "connections[1] must be a non-empty list of input indices"),
    ("[[0], [1], [-1]]", "[[", "connections must be at least 0, got -1"),
    ("[0, 1, 2]", "[0", "connections[0] must be a non-empty list of input indices, got 0"),
])
def test_bad_connection_table(cli, spec, table: str, needle: str, words: str) -> None:
    s = spec(HEAD + f"  - conv: {{name: c1, out: 3, kernel: 3, connections: {table}}}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at(needle)}: layer c1: "), msg
    assert words in msg


def test_connections_and_groups_exclude_each_other(cli, spec) -> None:
    s = spec(HEAD + "  - conv: {name: c1, out: 3, kernel: 3, groups: 3, "
                    "connections: [[0], [1], [2]]}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('conv')}: layer c1: "), msg
    assert "give groups or connections, not both" in msg


# -- blocks ------------------------------------------------------------------------------

BLOCKS = """\
name: t
input: [3, 16, 16]
blocks:
  blk:
    params: {width: ~, k: 3}
    layers:
      - conv: {name: conv, out: width, kernel: k}
layers:
"""


def test_unknown_block_name_suggests(cli, spec) -> None:
    s = spec(BLOCKS + "  - blck: {name: b1, width: 4}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('blck')}: "), msg
    assert "unknown layer type 'blck' (did you mean 'blk'?)" in msg


def test_block_missing_required_argument(cli, spec) -> None:
    s = spec(BLOCKS + "  - blk: {name: b1, width: 4}\n  - blk: {name: b2, k: 1}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('blk: {name: b2')}: layer b2: "), msg
    assert "block 'blk' needs argument 'width'" in msg


def test_block_unknown_argument_suggests(cli, spec) -> None:
    s = spec(BLOCKS + "  - blk: {name: b1, witdh: 4}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('witdh')}: layer b1: "), msg
    assert "block 'blk' has no parameter 'witdh' (did you mean 'width'?)" in msg
    assert "its parameters: width, k" in msg


def test_block_uses_itself_directly(cli, spec) -> None:
    s = spec("name: t\ninput: [3, 8, 8]\nblocks:\n  a:\n    layers:\n      - relu\n"
             "      - a\nlayers:\n  - a: {name: x}\n")
    msg = fails(cli, s)
    line, col = where(s.text, "      - a\n")
    assert msg.startswith(f"{s.path}:{line}:{col + 8}: layer x.1: "), msg
    assert "block 'a' uses itself (a -> a)" in msg


def test_block_uses_itself_through_another(cli, spec) -> None:
    s = spec("name: t\ninput: [3, 8, 8]\nblocks:\n  a:\n    layers:\n      - b: {name: inner}\n"
             "  b:\n    layers:\n      - a\nlayers:\n  - a: {name: x}\n")
    msg = fails(cli, s)
    line, col = where(s.text, "      - a\n")
    assert msg.startswith(f"{s.path}:{line}:{col + 8}: layer x.inner.0: "), msg
    assert "block 'a' uses itself (a -> b -> a)" in msg


UNIT = """\
name: t
input: [3, 8, 8]
blocks:
  unit:
    params: {planes: ~, k: 3}
    residual:
      layers:
        - conv: {name: conv1, out: planes, kernel: 1}
        - conv: {name: conv2, out: planes, kernel: k, padding: 1}
      shortcut: auto
  stage:
    params: {planes: ~, depth: 2, k: 3}
    repeat: {count: depth, body: {unit: {planes: planes, k: k}}}
layers:
  - stage: {name: layer1, planes: 4, k: 3}
  - stage: {name: layer2, planes: 4, k: 9}
"""


def test_error_in_block_points_at_block_line_and_call_path(cli, spec) -> None:
    """The first unit of layer2 shrinks the map to 2x2; the second's 9x9 conv cannot fit."""
    s = spec(UNIT)
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('conv: {name: conv2')}: layer layer2.1.conv2: "), msg
    assert "conv on input 4x2x2: kernel 9 along H is larger than the padded input " \
           "(2 + 2x1 = 4)" in msg


def test_bad_option_in_block_points_at_block_line_and_call_path(cli, spec) -> None:
    s = spec(UNIT.replace("kernel: k,", "kernel: k, bais: true,"))
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('bais')}: layer layer1.0.conv2: "), msg
    assert "conv has no option 'bais' (did you mean 'bias'?)" in msg


def test_range_error_from_a_call_argument_names_the_call(cli, spec) -> None:
    s = spec(UNIT.replace("k: 9}", "k: 0}"))
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('k,')}: layer layer2.0.conv2: "), msg
    assert "kernel must be at least 1, got 0" in msg


def test_error_in_included_block_points_into_included_file(cli, spec) -> None:
    lib = spec("blocks:\n  unit:\n    params: {planes: ~}\n    layers:\n"
               "      - conv: {name: c, out: planes, kernel: 5}\n", "lib.yaml")
    s = spec("name: t\ninput: [3, 4, 4]\ninclude: lib.yaml\nlayers:\n"
             "  - unit: {name: u1, planes: 4}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{lib.at('conv')}: layer u1.c: "), msg
    assert "kernel 5 along H is larger than the padded input (4 + 2x0 = 4)" in msg


def test_expression_error_in_block_names_the_call(cli, spec) -> None:
    s = spec("name: t\ninput: [3, 8, 8]\nblocks:\n  unit:\n    params: {planes: ~, div: 1}\n"
             "    layers:\n      - conv: {name: conv, out: planes // div, kernel: 1}\n"
             "layers:\n  - unit: {name: a, planes: 8, div: 2}\n"
             "  - unit: {name: b, planes: 8, div: 0}\n")
    msg = fails(cli, s)
    assert "division by zero" in msg
    assert msg.startswith(f"{s.at('planes // div')}: layer b.conv: "), msg


def test_unknown_layer_type_in_block_names_the_call(cli, spec) -> None:
    s = spec(UNIT.replace("- conv: {name: conv2", "- cnov: {name: conv2"))
    msg = fails(cli, s)
    assert "unknown layer type 'cnov' (did you mean 'conv'?)" in msg
    assert msg.startswith(f"{s.at('cnov')}: layer layer1.0.conv2: "), msg


# -- spec names and files ----------------------------------------------------------------

def test_unknown_zoo_name_suggests(cli) -> None:
    code, out, err = cli("check", "resnet5")
    msg = error_line(code, err)
    assert "no spec file or zoo network named 'resnet5'" in msg
    assert "did you mean 'resnet50'" in msg


@pytest.mark.parametrize("relative", [False, True])
def test_missing_spec_file(cli, tmp_path: Path, monkeypatch, relative: bool) -> None:
    monkeypatch.chdir(tmp_path)
    path = "nope.yaml" if relative else str(tmp_path / "nope.yaml")
    code, out, err = cli("summary", path)
    msg = error_line(code, err)
    assert f"spec file {path!r} does not exist" in msg


# -- impossible shapes -------------------------------------------------------------------

def test_kernel_larger_than_padded_input(cli, spec) -> None:
    s = spec("name: t\ninput: [3, 4, 4]\nlayers:\n  - conv: {name: c, out: 8, kernel: 7, "
             "padding: 1}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('conv')}: layer c: "), msg
    assert "conv on input 3x4x4: kernel 7 along H is larger than the padded input " \
           "(4 + 2x1 = 6)" in msg


def test_pool_on_too_small_map(cli, spec) -> None:
    s = spec("name: t\ninput: [3, 2, 2]\nlayers:\n  - maxpool: {kernel: 2}\n"
             "  - maxpool: {kernel: 2}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('maxpool', 2)}: layer 1: "), msg
    assert "maxpool on input 3x1x1: kernel 2 along H is larger than the padded input" in msg


def test_output_size_below_one(cli, spec) -> None:
    s = spec("name: t\ninput: [3, 1, 1]\nlayers:\n"
             "  - maxpool: {name: p, kernel: 5, stride: 1, ceil_mode: true}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('maxpool')}: layer p: "), msg
    assert "output H would be -3, below 1" in msg


def test_residual_identity_channel_mismatch(cli, spec) -> None:
    s = spec("name: t\ninput: [3, 8, 8]\nlayers:\n  - residual:\n      name: res\n"
             "      layers:\n        - conv: {out: 16, kernel: 3, padding: 1}\n"
             "      shortcut: identity\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('residual')}: layer res: "), msg
    assert "residual add: the body gives 16x8x8 but the input is 3x8x8" in msg
    assert "shortcut: auto" in msg


def test_concat_spatial_mismatch(cli, spec) -> None:
    s = spec("name: t\ninput: [3, 8, 8]\nlayers:\n  - relu\n  - concat:\n      name: mix\n"
             "      branches:\n        a: {conv: {out: 4, kernel: 1}}\n"
             "        b: {conv: {out: 4, kernel: 3}}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('concat')}: layer mix: "), msg
    assert "branch 'b' gives 4x6x6 but branch 'a' gives 4x8x8" in msg


def test_linear_on_unflattened_map(cli, spec) -> None:
    s = spec("name: t\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 3}\n"
             "  - linear: {name: fc, out: 10}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('linear')}: layer fc: "), msg
    assert "4x6x6" in msg
    assert "flatten" in msg


def test_map_layer_on_flat_vector(cli, spec) -> None:
    s = spec("name: t\ninput: [3, 8, 8]\nlayers:\n  - flatten\n  - conv: {out: 4, kernel: 1}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('conv')}: layer 1: "), msg
    assert "needs a feature map" in msg


# -- documents ---------------------------------------------------------------------------

def test_list_document(cli, spec) -> None:
    s = spec("- conv: {out: 8, kernel: 3}\n- relu\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.path}:1:1: "), msg
    assert "a spec is a mapping with name, input and layers" in msg


def test_list_document_says_list(cli, spec) -> None:
    s = spec("- relu\n")
    msg = fails(cli, s)
    assert msg.endswith("this file holds a list"), msg


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file(cli, spec, text: str) -> None:
    s = spec(text)
    msg = fails(cli, s)
    assert msg == f"{s.path}:1:1: the spec file is empty"


def test_python_object_tag_is_refused_and_not_run(cli, spec, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    s = spec(f"name: t\ninput: [3, 8, 8]\nlayers:\n  - relu\n"
             f"description: !!python/object/apply:os.system ['touch {marker}']\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('!!python')}: "), msg
    assert "YAML tag" in msg and "python/object/apply:os.system" in msg
    assert "not allowed" in msg
    assert not marker.exists()


@pytest.mark.parametrize("tag", ["!!python/name:os.system", "!!set", "!!binary",
                                 "!!timestamp", "!custom"])
def test_other_tags_are_refused(cli, spec, tag: str) -> None:
    s = spec(f"name: t\ninput: [3, 8, 8]\nlayers: [relu]\ndescription: {tag} x\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at(tag)}: "), msg
    assert "is not allowed in a spec" in msg


def test_billion_laughs_fails_fast(cli, spec) -> None:
    lines = ["name: t", "input: [3, 8, 8]", "layers: [relu]",
             "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    s = spec("\n".join(lines) + "\n")
    start = time.perf_counter()
    msg = fails(cli, s)
    assert time.perf_counter() - start < 0.5
    assert "document expands to more than 200,000 values" in msg
    # 10 + 100 + 1,000 + 10,000 + 100,000 values are fine; a5's aliases pass the limit.
    line, _ = where(s.text, "a5:")
    assert msg.startswith(f"{s.path}:{line}:"), msg


def test_deep_nesting(cli, spec) -> None:
    s = spec("name: t\ninput: [3, 8, 8]\nlayers: " + "[" * 100 + "]" * 100 + "\n")
    msg = fails(cli, s)
    # The root mapping is level 1, so the 64th '[' (the 65th level) is refused.
    line, col = where(s.text, "[[")
    assert msg.startswith(f"{s.path}:{line}:{col + 63}: "), msg
    assert "nesting deeper than 64 levels" in msg


def test_very_deep_nesting_fails_fast(cli, spec) -> None:
    s = spec("name: t\ninput: [3, 8, 8]\nlayers: " + "[" * 200_000 + "\n")
    start = time.perf_counter()
    msg = fails(cli, s)
    assert time.perf_counter() - start < 0.5
    assert msg.startswith(f"{s.path}:3:"), msg
    assert "nesting" in msg


@pytest.mark.parametrize("text,key", [
    ("name: t\ninput: [3, 8, 8]\nlayers: [relu]\nname: u\n", "name"),
    ("name: t\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 8, kernel: 3, out: 16}\n", "out"),
    ("name: t\ninput: [3, 8, 8]\nlayers: [relu]\nparams:\n  width: 8\n  depth: 2\n"
     "  width: 16\n", "width"),
])
def test_duplicate_key_reported_at_second(cli, spec, text: str, key: str) -> None:
    s = spec(text)
    msg = fails(cli, s)
    first, _ = where(text, f"{key}:")
    assert msg.startswith(f"{s.at(key + ':', 2)}: "), msg
    assert f"duplicate key {key!r} (first given at line {first})" in msg


def test_exponent_number_is_a_number(cli, spec) -> None:
    s = spec("name: t\ninput: [3, 8, 8]\nlayers:\n  - batchnorm: {name: bn, eps: 1e-3}\n")
    code, out, err = cli("check", s.path)
    assert code == 0, err
    assert out.startswith(f"ok  {s.path}: t, input 3x8x8, output 3x8x8")
    assert load(s.path).root.children[0].layer.eps == 0.001


# -- expressions -------------------------------------------------------------------------

PARAMS = "name: t\ninput: [3, 8, 8]\nparams:\n  width: 8\n  classes: 10\nlayers:\n"


@pytest.mark.parametrize("expr,words", [
    ("widht * 2", "unknown name 'widht' (did you mean 'width'?)"),
    ("width // 0", "division by zero"),
    ("width % 0", "division by zero"),
    ("10**10**10", "is too large"),
    ("().__class__", "attribute access is not allowed"),
    ("open('x')", "function 'open' is not available"),
    ("__import__('os')", "function '__import__' is not available"),
    ("[x for x in [1]]", "a comprehension is not allowed"),
    ("lambda: 1", "lambda is not allowed"),
    ("width +", "cannot parse expression"),
])
def test_bad_expression(cli, spec, expr: str, words: str) -> None:
    s = spec(PARAMS + f'  - conv: {{out: "{expr}", kernel: 3}}\n')
    start = time.perf_counter()
    msg = fails(cli, s)
    assert time.perf_counter() - start < 0.5
    assert msg.startswith(f"{s.at(chr(34) + expr)}: "), msg
    assert f"in expression {expr!r}" in msg
    assert words in msg


def test_huge_repeat_count(cli, spec) -> None:
    s = spec(PARAMS + "  - repeat: {name: r, count: 1000000000, body: relu}\n")
    start = time.perf_counter()
    msg = fails(cli, s)
    assert time.perf_counter() - start < 0.5
    assert msg.startswith(f"{s.at('1000000000')}: layer r: "), msg
    assert "repeat count 1,000,000,000 is more than 100,000" in msg


def test_huge_repeat_count_from_expression(cli, spec) -> None:
    s = spec(PARAMS + "  - repeat: {name: r, count: 10 ** 12, body: relu}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('10 ** 12')}: layer r: "), msg
    assert "is more than 100,000" in msg


@pytest.mark.parametrize("count,words", [("-1", "got -1"), ("2.5", "got 2.5"),
                                         ("true", "got True")])
def test_bad_repeat_count(cli, spec, count: str, words: str) -> None:
    s = spec(PARAMS + f"  - repeat: {{name: r, count: {count}, body: relu}}\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at(count)}: layer r: "), msg
    assert "repeat count must be a whole number >= 0" in msg and words in msg


# -- --set and --input -------------------------------------------------------------------

SET_SPEC = ("name: t\ninput: [3, 8, 8]\nparams:\n  width: 8\n  classes: 10\n  rate: 0.5\n"
            "  flag: true\nlayers:\n  - relu\n")


@pytest.mark.parametrize("args,words", [
    (["--set", "widht=4"], "--set widht: the spec has no parameter 'widht' "
                           "(did you mean 'width'?); its parameters: classes, flag, rate, width"),
    (["--set", "classes=abc"], "--set classes: expected an integer like 10, got 'abc'"),
    (["--set", "classes=1.5"], "--set classes: expected an integer like 10, got 1.5"),
    (["--set", "classes=true"], "--set classes: expected an integer like 10, got "),
    (["--set", "rate=fast"], "--set rate: expected a number like 0.5, got 'fast'"),
    (["--set", "flag=yes"], "--set flag: expected true or false"),
    (["--set", "classes"], "--set 'classes': write NAME=VALUE"),
    (["--set", "=10"], "--set '=10': write NAME=VALUE"),
    (["--set", "classes=3", "--set", "classes=4"], "--set classes is given twice"),
    (["--set", "classes=[1"], "--set classes: cannot read '[1' (the '[' opened here is not closed"),
    (["--set", "classes=!!python/object/apply:os.system [ls]"],
     "--set classes: cannot read"),
])
def test_set_misuse(cli, spec, args: list[str], words: str) -> None:
    s = spec(SET_SPEC)
    msg = fails(cli, s, *args)
    assert msg.startswith(words), msg


@pytest.mark.parametrize("case", ["set", "spec"])
def test_booleans_spelled_as_in_yaml(cli, spec, case: str) -> None:
    if case == "set":
        msg = fails(cli, spec(SET_SPEC), "--set", "flag=1")
        assert "like true" in msg, msg
    else:
        msg = fails(cli, spec(HEAD + "  - conv: {out: 8, kernel: 3, groups: true}\n"))
        assert "got true" in msg, msg


def test_set_applies_when_valid(cli, spec) -> None:
    s = spec(SET_SPEC.replace("  - relu\n", "  - conv: {out: width, kernel: 1}\n"))
    code, out, err = cli("check", s.path, "--set", "width=5", "--set", "rate=1e-3")
    assert code == 0, err
    assert "output 5x8x8" in out


@pytest.mark.parametrize("value,words", [
    ("3x224", "give 3 sizes CxHxW (or 1 for a vector), not 2"),
    ("0x1x1", "every size must be between 1 and 1,048,576"),
    ("3x-1x2", "every size must be between 1 and 1,048,576"),
    ("abc", "write CxHxW like 3x224x224"),
    ("", "write CxHxW like 3x224x224"),
    ("3x224x224x2", "not 4"),
])
def test_input_misuse(cli, spec, value: str, words: str) -> None:
    s = spec(SET_SPEC)
    msg = fails(cli, s, "--input", value)
    assert msg.startswith(f"--input {value!r}: "), msg
    assert words in msg


def test_bad_input_in_spec(cli, spec) -> None:
    s = spec("name: t\ninput: 3\nlayers: [relu]\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('3')}: "), msg
    assert "input must be [C, H, W] (or [F]) of positive integers, got 3" in msg


def test_spec_top_level_typo_suggests(cli, spec) -> None:
    s = spec("name: t\ninput: [3, 8, 8]\nlayers: [relu]\nlayres: [relu]\n")
    msg = fails(cli, s)
    assert msg.startswith(f"{s.at('layres')}: "), msg
    assert "unknown key 'layres' in a spec (did you mean 'layers'?)" in msg


def test_unknown_layer_type_names_the_closest_and_the_list(cli, write_spec) -> None:
    spec = write_spec("name: t\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 3}\n"
                      "  - mish\n")
    code, _, err = cli("check", spec)
    assert code == 2
    from cnncli.spec.resolve import layer_types

    types = layer_types()
    assert {"conv", "maxpool", "batchnorm", "relu", "linear"} <= set(types)
    assert "conv2d" not in types and "bn" not in types  # one name per type
    assert (f"error: {spec}:5:5: layer 1: unknown layer type 'mish' (did you mean "
            f"'swish'?); the layer types are {', '.join(types)}, the composites sequence, "
            "residual, concat, gate, repeat, and the joins add and multiply "
            "(docs/spec-language.md)\n") == err


@pytest.mark.parametrize(("body", "hint"), [
    ("{out: 3, kernel: 8}", "(no 1x1 projection with the body's stride 1x1 maps 3x8x8 to 3x1x1: "
                            "pad the body's layers, e.g. padding: same, or give the shortcut "
                            "layers explicitly)"),
    ("{out: 6, kernel: 3, stride: 2, padding: 1}", "(use shortcut: auto for a 1x1 projection)"),
])
def test_identity_residual_suggests_auto_only_where_it_works(cli, write_spec, body: str,
                                                             hint: str) -> None:
    spec = write_spec("name: t\ninput: [3, 8, 8]\nlayers:\n  - residual:\n"
                      "      shortcut: identity\n      layers:\n"
                      f"        - conv: {body}\n")
    code, _, err = cli("check", spec)
    assert code == 2 and err.rstrip().endswith(hint), err


@pytest.mark.parametrize("args", [["nosuch"], ["summary"], ["summary", "lenet5", "--bogus"],
                                  ["summary", "lenet5", "--batch", "0"], ["list", "-f", "xml"]])
def test_every_error_starts_with_error(cli, args: list[str]) -> None:
    code, out, err = cli(*args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
