"""Structure-aware fuzzing of `cnncli check` with the zoo specs as seeds.

Each example takes a shipped spec (specs/*.yaml, docs/examples/*.yaml), reads it with
`yaml.safe_load`, applies one to three mutations (delete a key or item, duplicate an item,
change a value's type, swap two values, set a number to an extreme, put a near-miss of a
layer name where a name was), writes it back with `yaml.safe_dump` and runs
`cnncli.commands.main(["check", FILE])` in-process. Whatever the mutant, cnncli must either
accept it (exit 0, one `ok` line) or refuse it (exit 2, one `error: ` line), never let an exception
escape, and answer within TIME_LIMIT_S.

The run is seeded (`derandomize=True`), so it is the same on every machine. Raise the number
of examples for a long run with CNNCLI_FUZZ_EXAMPLES=5000.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from cnncli.commands import main
from cnncli.layers import REGISTRY
from cnncli.spec.resolve import COMPOSITES

SEED_FILES = sorted([*ROOT.glob("specs/*.yaml"), *ROOT.glob("docs/examples/*.yaml")])
SEEDS = {path.name: yaml.safe_load(path.read_text(encoding="utf-8")) for path in SEED_FILES}
EXAMPLES = int(os.environ.get("CNNCLI_FUZZ_EXAMPLES", "150"))
# CPU seconds of this process: load on the machine does not count, but late in the whole
# suite a collection of its large heap does (one mutant took 2.2 s there, 76 ms alone); a
# bomb that got through would take minutes. As tests/spec/test_corpus.py's limit.
TIME_LIMIT_S = 5.0
MAX_INT_OPTION = 2**31 - 1  # cnncli's limit for integer options

LAYER_NAMES = sorted({*REGISTRY, *COMPOSITES})
EXTREMES = [0, -1, 2**40, 1e308, math.nan, math.inf, -math.inf, 2**63, 0.5, -0.0]
MUTATIONS = ("delete", "duplicate", "retype", "swap", "extreme", "near_miss", "rename_key")

Path_ = tuple[Any, ...]  # keys and indices from the document's root


# -- walking and editing plain YAML data -----------------------------------------------------

def nodes(doc: Any, path: Path_ = ()) -> list[tuple[Path_, Any]]:
    """Every value in the document with its path, the root first."""
    found = [(path, doc)]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += nodes(value, (*path, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += nodes(value, (*path, index))
    return found


def get(doc: Any, path: Path_) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def put(doc: Any, path: Path_, value: Any) -> Any:
    """Set the value at `path`; returns the new document (the root may be replaced)."""
    if not path:
        return value
    get(doc, path[:-1])[path[-1]] = value
    return doc


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def near_miss(draw: st.DrawFn, word: str) -> str:
    """A plausible typo of `word`: a letter dropped, doubled, swapped, changed or recased."""
    if not word:
        return "x"
    i = draw(st.integers(0, len(word) - 1))
    kind = draw(st.sampled_from(("drop", "double", "swap", "change", "upper", "plural")))
    if kind == "drop" and len(word) > 1:
        return word[:i] + word[i + 1:]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    if kind == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "change":
        return word[:i] + draw(st.sampled_from("aeiouxz_1")) + word[i + 1:]
    if kind == "upper":
        return word[:i] + word[i:].upper()
    return word + "s"


def retyped(value: Any) -> Any:
    """The same content in the wrong type: int->str, list->int, dict->list, str->dict, ..."""
    if isinstance(value, bool):
        return "yes" if value else "off"
    if is_number(value):
        return str(value)
    if isinstance(value, str):
        return {value: 1}
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        return [{key: item} for key, item in value.items()]
    return []  # None


def mutate(draw: st.DrawFn, doc: Any) -> tuple[Any, str]:
    """Apply one mutation; return the document and a description for the failure report."""
    kind = draw(st.sampled_from(MUTATIONS))
    everything = nodes(doc)
    inner = [(p, v) for p, v in everything if p]
    if not inner:
        return retyped(doc), "retype the root"
    if kind == "delete":
        path = draw(st.sampled_from([p for p, _ in inner]))
        parent = get(doc, path[:-1])
        del parent[path[-1]]
        return doc, f"delete {path}"
    if kind == "duplicate":
        lists = [(p, v) for p, v in everything if isinstance(v, list) and v]
        if lists:
            path, items = draw(st.sampled_from(lists))
            i = draw(st.integers(0, len(items) - 1))
            items.insert(i, copy.deepcopy(items[i]))
            return doc, f"duplicate {(*path, i)}"
        kind = "retype"
    if kind == "swap":
        a = draw(st.sampled_from([p for p, _ in inner]))
        unrelated = [p for p, _ in inner if p[:len(a)] != a and a[:len(p)] != p]
        if unrelated:
            b = draw(st.sampled_from(unrelated))
            va, vb = copy.deepcopy(get(doc, a)), copy.deepcopy(get(doc, b))
            put(doc, a, vb)
            put(doc, b, va)
            return doc, f"swap {a} and {b}"
        kind = "retype"
    if kind == "extreme":
        numbers = [p for p, v in inner if is_number(v)] or [p for p, _ in inner]
        path = draw(st.sampled_from(numbers))
        value = draw(st.sampled_from(EXTREMES))
        return put(doc, path, value), f"set {path} to {value!r}"
    if kind == "near_miss":
        texts = [p for p, v in inner if isinstance(v, str)] or [p for p, _ in inner]
        path = draw(st.sampled_from(texts))
        value = near_miss(draw, draw(st.sampled_from(LAYER_NAMES)))
        return put(doc, path, value), f"set {path} to {value!r}"
    if kind == "rename_key":
        keyed = [(p, k) for p, v in everything if isinstance(v, dict) for k in v]
        if keyed:
            path, key = draw(st.sampled_from(keyed))
            base = draw(st.sampled_from([key, *LAYER_NAMES]))
            new = near_miss(draw, base)
            box = get(doc, path)
            renamed = {(new if k == key else k): v for k, v in box.items()}
            return put(doc, path, renamed), f"rename key {(*path, key)} to {new!r}"
    path = draw(st.sampled_from([p for p, _ in inner]))
    return put(doc, path, retyped(get(doc, path))), f"retype {path}"


@st.composite
def mutants(draw: st.DrawFn) -> tuple[str, Any, str, list[str]]:
    seed = draw(st.sampled_from(sorted(SEEDS)))
    doc = copy.deepcopy(SEEDS[seed])
    steps = []
    for _ in range(draw(st.integers(1, 3))):
        doc, step = mutate(draw, doc)
        steps.append(step)
    return seed, doc, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), steps


# -- running the CLI -------------------------------------------------------------------------

def run_check(path: Path) -> tuple[Any, str, str, float]:
    """`cnncli check PATH` in-process; only SystemExit is caught, anything else escapes."""
    out, err = io.StringIO(), io.StringIO()
    start = time.process_time()
    code: Any = "returned without exiting"
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(["check", str(path)])
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue(), time.process_time() - start


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.slow
@settings(derandomize=True, database=None, max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=mutants())
def test_mutated_zoo_spec_fails_cleanly(workdir: Path,
                                        case: tuple[str, Any, str, list[str]]) -> None:
    seed, doc, text, steps = case
    path = workdir / f"mutant_of_{seed}"
    path.write_text(text, encoding="utf-8")
    note(f"seed {seed}; mutations: {'; '.join(steps)}\n--- {path.name}\n{text}")
    code, out, err, elapsed = run_check(path)  # any exception escaping here is a bug
    event(f"exit {code}")
    assert code in (0, 2), f"exit status {code!r}\nstdout: {out}\nstderr: {err}"
    assert "Traceback" not in out + err, err
    # a family file is checked member by member (`ok  FILE:VARIANT: ...`), up to the first
    # that fails
    assert all(re.match(rf"ok  {re.escape(str(path))}(:[^:]+)?: ", line)
               for line in out.splitlines()), out
    if code == 0:
        assert err == "", err
        assert out.count("\n") >= 1, out
    else:
        lines = err.rstrip("\n").split("\n")
        assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert elapsed < TIME_LIMIT_S, f"took {elapsed:.2f} s"


@pytest.mark.slow
def test_seeds_pass_unmutated(workdir: Path) -> None:
    """The round trip through safe_load/safe_dump keeps every seed valid."""
    for seed, doc in SEEDS.items():
        path = workdir / f"plain_{seed}"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        code, out, err, _ = run_check(path)
        assert code == 0, (seed, err)


def test_big_whole_float_meets_the_integer_limit(workdir: Path) -> None:
    """Found by this fuzz test: classes: 1e308 once slipped past the integer limit and
    crashed the report with OverflowError."""
    doc = copy.deepcopy(SEEDS["alexnet.yaml"])
    doc["params"]["classes"] = 1e308
    path = workdir / "alexnet_classes_1e308.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    code, out, err, _ = run_check(path)
    assert code == 2 and err.startswith("error: "), (code, out, err)
