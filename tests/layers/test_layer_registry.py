"""Layer types own their construction and registration, and the docs list every one.

`Layer.create` is the one constructor (defaults, checks, `validate`); defining a class with a
`name` registers it; the spec-language table and the counting tables name every registered
type, with each option and its default.
"""

from __future__ import annotations

import math
import pkgutil
import re
import sys
from fractions import Fraction

import pytest
from conftest import ROOT

import cnncli
import cnncli.layers
from cnncli.layers import LAYER_TYPES, REGISTRY, Arg, ArgError, Layer, OptionError
from cnncli.layers.activation import Activation

DOCS = ROOT / "docs"


def required(cls: type[Layer]) -> dict:
    """A value for each required option: 2, or a word for a text option (onnx_op's op)."""
    return {arg.name: "Elu" if arg.kind == "text" else 2 for arg in cls.args if arg.required}


def section(doc: str, heading: str) -> str:
    """The text under a `## heading`, up to the next heading of that level."""
    text = (DOCS / doc).read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def first_cells(text: str) -> list[list[str]]:
    """The backticked registered names in the first cell of each table row."""
    rows = []
    for line in text.splitlines():
        if line.startswith("| `"):
            names = re.findall(r"`([^`]+)`", line.split("|")[1])
            rows.append([n for n in names if n in REGISTRY])
    return rows


# -- the constructor ---------------------------------------------------------------------


def test_create_fills_in_defaults_and_makes_values_canonical() -> None:
    conv = REGISTRY["conv"].create(out=8, kernel=3)
    assert conv.arg_values() == {"out": 8, "kernel": (3, 3), "stride": (1, 1),
                                 "padding": (0, 0), "dilation": (1, 1), "groups": 1,
                                 "bias": True, "connections": None}
    assert REGISTRY["maxpool"].create(kernel=[3, 2]).stride is None
    assert REGISTRY["global_avgpool"].create().size == (1, 1)  # fixed, not an option
    assert REGISTRY["drop_path"].create().p == 0.0  # its own default, not dropout's 0.5


@pytest.mark.parametrize("options,error,message,arg", [
    ({"kernel": 3}, OptionError, "conv needs 'out' (output channels)", None),
    ({"out": 8, "kernel": 3, "oops": 1}, OptionError,
     "conv has no option 'oops' (did you mean 'groups'?); its options: out, kernel, stride, "
     "padding, dilation, groups, bias, connections", "oops"),
    ({"out": 8, "kernel": 0}, ArgError, "conv: kernel must be at least 1, got 0", "kernel"),
    ({"out": 8, "kernel": 3, "bias": "yes"}, ArgError,
     "conv: bias must be true or false, got 'yes' (write true or false)", "bias"),
    ({"out": 6, "kernel": 3, "groups": 4}, ArgError, "conv: groups=4 must divide out=6", None),
])
def test_create_refuses_with_a_clear_message(options: dict, error: type, message: str,
                                             arg: str | None) -> None:
    with pytest.raises(error) as info:
        REGISTRY["conv"].create(**options)
    assert (str(info.value), info.value.arg) == (message, arg)
    assert info.value.said_of("conv2d") == message.replace("conv", "conv2d", 1)


def test_create_is_the_only_constructor() -> None:
    with pytest.raises(TypeError, match=r"make a conv layer with Conv.create\(...\)"):
        REGISTRY["conv"](out=8, kernel=(3, 3))


@pytest.mark.parametrize("cls", LAYER_TYPES, ids=lambda c: c.name)
def test_canonical_values_round_trip(cls: type[Layer]) -> None:
    """What a layer holds is what create takes back (lessons' what-if layers rely on it)."""
    layer = cls.create(**required(cls))
    again = cls.create(**layer.arg_values())
    assert again.arg_values() == layer.arg_values() and repr(again) == repr(layer)


def test_arguments_are_declared_once_as_attributes() -> None:
    """`cls.args` is made from the class's Arg attributes, a base class's first."""
    assert [a.name for a in REGISTRY["maxpool"].args] == \
        ["kernel", "stride", "padding", "dilation", "ceil_mode"]
    assert [a.name for a in REGISTRY["avgpool"].args] == \
        ["kernel", "stride", "padding", "ceil_mode", "count_include_pad"]
    assert [a.name for a in REGISTRY["subsample"].args] == ["kernel", "stride", "padding"]
    for cls in LAYER_TYPES:
        for arg in cls.args:
            assert getattr(cls, arg.name) is arg and isinstance(arg, Arg), (cls.name, arg)


# -- registration --------------------------------------------------------------------------


def test_a_class_with_a_name_registers_itself() -> None:
    class Probe(Layer):
        name, aliases = "registry_probe", ("registry_probe_alias",)
        width: Arg[int] = Arg("int", 3, min=1)

    try:
        assert REGISTRY["registry_probe"] is REGISTRY["registry_probe_alias"] is Probe
        assert Probe.create().width == 3
        with pytest.raises(TypeError, match="'registry_probe' is both"):
            type("Other", (Layer,), {"name": "registry_probe"})
    finally:
        del REGISTRY["registry_probe"], REGISTRY["registry_probe_alias"]


def test_every_layer_module_is_imported_without_a_list() -> None:
    """A new file under cnncli/layers/ registers its types (modules.py is torch: not
    imported until a build)."""
    names = {m.name for m in pkgutil.iter_modules(cnncli.layers.__path__)
             if not m.name.startswith("modules")}  # torch: imported by the layers' build
    assert names <= {m.rpartition(".")[2] for m in sys.modules if m.startswith("cnncli.layers.")}
    assert {cls.__module__.rpartition(".")[2] for cls in LAYER_TYPES} == names - {"base", "args",
                                                                               "window"}
    assert len(LAYER_TYPES) == len(set(REGISTRY.values())) == 41


# -- the signals the layer classes carry ---------------------------------------------------


@pytest.mark.parametrize("cls", LAYER_TYPES, ids=lambda c: c.name)
def test_counts_macs_says_what_the_work_is(cls: type[Layer]) -> None:
    """Reports show MACs (else —) by `counts_macs`; the work note agrees, and a type that
    does not count them has none."""
    assert cls.counts_macs == cls.work.startswith("MACs")
    if not cls.counts_macs:
        layer = cls.create(**required(cls))
        shape = (6,) if cls.name == "rbf" else (4, 9) if cls.__module__.endswith(".tokens") \
            else (4, 9, 9)
        assert layer.infer(shape).macs == 0


def test_every_activation_names_its_init_family() -> None:
    activations = [cls for cls in LAYER_TYPES if issubclass(cls, Activation)]
    assert len(activations) == 11
    for cls in activations:
        assert "init_nonlinearity" in vars(cls), f"{cls.name} does not say its init family"
        assert cls.init_nonlinearity in ("relu", "leaky_relu", "tanh", "sigmoid", ""), cls.name


@pytest.mark.parametrize("acts,scheme", [
    (["tanh"], "xavier"), (["scaled_tanh", "sigmoid"], "xavier"),
    (["tanh", "hardswish"], "kaiming"), (["hardsigmoid"], "xavier"),
    (["tanh", "softmax"], "xavier"), (["softmax"], "kaiming"), (["gelu", "tanh"], "kaiming"),
])
def test_auto_init_follows_the_activations_families(write_spec, acts: list[str],
                                                    scheme: str) -> None:
    layers = "".join(f"  - {act}\n" for act in acts)
    spec = write_spec(f"name: t\ninput: [4]\nlayers:\n  - linear: {{out: 3}}\n{layers}")
    assert cnncli.build(spec).init_scheme == scheme


# -- the docs' tables ----------------------------------------------------------------------


def _documented_default(arg: Arg, text: str) -> bool:
    if arg.required:
        return text == "required"
    if arg.default is None:
        return text in ("none", "the kernel")  # pool strides: "defaults to the kernel size"
    if isinstance(arg.default, bool):
        return text == str(arg.default).lower()
    if isinstance(arg.default, str):  # a choice: the word, then its alternatives
        return text == arg.default
    return math.isclose(float(Fraction(text)), arg.default)


def layer_table() -> dict[str, tuple[list[str], dict[str, str]]]:
    """docs/spec-language.md's layer types: name -> (every spelling, option -> default)."""
    rows = {}
    for line in section("spec-language.md", "Layer types").splitlines():
        if not line.startswith("| `"):
            continue
        cells = line.split(" | ")
        names = re.findall(r"`([^`]+)`", cells[0])
        options = dict(re.findall(r"`(\w+)`: ([^(<]+?)(?: \(|<br>|$)", cells[1]))
        rows[names[0]] = (names, options)
    return rows


def test_the_spec_language_table_lists_every_type_its_options_and_defaults() -> None:
    rows = layer_table()
    assert set(rows) == {cls.name for cls in LAYER_TYPES}
    for cls in LAYER_TYPES:
        spellings, options = rows[cls.name]
        assert spellings == [cls.name, *cls.aliases], cls.name
        assert list(options) == [arg.name for arg in cls.args], cls.name
        for arg in cls.args:
            assert _documented_default(arg, options[arg.name]), (cls.name, arg.name,
                                                                  options[arg.name])


def test_the_counting_tables_name_every_type() -> None:
    """docs/counting.md: the MACs table lists exactly the types that count MACs; the other
    ops and training-memory tables list every type."""
    macs = {n for row in first_cells(section("counting.md", "MACs and FLOPs")) for n in row}
    assert macs == {cls.name for cls in LAYER_TYPES if cls.counts_macs}
    for heading in ("Other ops", "Training memory"):
        named = {n for row in first_cells(section("counting.md", heading)) for n in row}
        assert named == {cls.name for cls in LAYER_TYPES}, heading
