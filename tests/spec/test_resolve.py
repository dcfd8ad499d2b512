"""Resolution details: naming in residual `after` composites, concat branch
names, list parameters through --set, `file.yaml:variant`, strict JSON for odd values."""

from __future__ import annotations

import json

import cnncli
from cnncli.model.verify import verify


def test_after_composites_continue_the_body_numbering(write_spec) -> None:
    spec = write_spec("""
        name: r
        input: [2, 8, 8]
        layers:
          - residual:
              name: r
              layers: [relu, relu]
              after: [{sequence: {layers: [relu, relu]}}, {repeat: {count: 2, body: relu}}]
        """)
    paths = [r.path for r in cnncli.analyze(spec).root.walk() if r.is_leaf]
    assert paths == ["r.0", "r.1", "r.(add)", "r.2.0", "r.2.1", "r.3.0", "r.3.1"]
    assert verify(spec).ok


def test_concat_branch_names_must_differ(write_spec, cli) -> None:
    spec = write_spec("""
        name: c
        input: [2, 8, 8]
        layers:
          - concat:
              branches: {a: {conv: {name: b, out: 4, kernel: 1}}, b: [relu]}
        """)
    code, _, err = cli("check", spec)
    assert code == 2
    assert f"{spec}:5:62: layer 0.b: name 'b' is used twice in 0" in err


def test_concat_list_branches_are_numbered_among_those_kept(write_spec) -> None:
    spec = write_spec("""
        name: c
        input: [2, 8, 8]
        layers:
          - concat:
              branches:
                - {conv: {out: 4, kernel: 1, when: false}}
                - {conv: {out: 3, kernel: 1}}
        """)
    paths = [r.path for r in cnncli.analyze(spec).root.walk() if r.is_layer]
    assert paths == ["0.0"]


def test_set_accepts_list_parameters(cli) -> None:
    code, out, err = cli("summary", "resnet50", "--set", "depths=[2,2,2,2]", "-f", "json")
    assert code == 0, err
    assert json.loads(out)["spec_params"]["depths"] == [2, 2, 2, 2]
    code, _, err = cli("check", "resnet50", "--set", "depths=3")
    assert code == 2 and "expected a list like [3, 4, 6, 3], got 3" in err


def test_file_variant_syntax(cli) -> None:
    code, out, _ = cli("check", "specs/resnet.yaml:resnet18")
    assert code == 0 and "11,689,512 params" in out
    code, _, err = cli("check", "specs/resnet.yaml:resnet19")
    assert code == 2 and "has no variant 'resnet19' (did you mean 'resnet18'?)" in err


def test_json_stays_strict_with_infinite_parameters(write_spec, cli) -> None:
    spec = write_spec("name: x\ninput: [4]\nparams: {big: .inf}\nlayers: [{linear: {out: 2}}]\n")
    code, out, _ = cli("summary", spec, "-f", "json")
    assert code == 0
    doc = json.loads(out, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert doc["spec_params"]["big"] == ".inf"


def test_block_parameter_cannot_shadow_common_keys(write_spec, cli) -> None:
    spec = write_spec("""
        name: x
        input: [4]
        blocks:
          b:
            params: {name: 1}
            layers: [relu]
        layers: [b]
        """)
    code, _, err = cli("check", spec)
    assert code == 2 and "block parameter 'name' clashes" in err


def test_whole_numbers_written_as_floats(write_spec) -> None:
    spec = write_spec("name: x\ninput: [3.0, 8, 8]\nlayers:\n"
                      "  - repeat: {count: 2.0, body: {conv: {out: 4.0, kernel: 3.0}}}\n")
    assert cnncli.analyze(spec).output == (4, 4, 4)
