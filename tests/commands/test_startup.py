"""What a static command imports: only what it uses, so it starts about as fast as
`python -c "import click, yaml"` (bench/bench_startup.py measures it).

Each command runs in a fresh interpreter and lists sys.modules; a module that a change drags
into the start-up (torch, rich, numpy, the model or training code, analysis a command does not
show) fails here rather than slowing every call unnoticed.
"""

from __future__ import annotations

import functools
import importlib
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

import cnncli
from cnncli.commands import LAZY_COMMANDS, cli

PROBE = ("import sys\nfrom cnncli.commands import main\n"
         "try:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
         "sys.stdout.write('\\nMODULES=' + ' '.join(sorted(sys.modules)))\n")

#: the cnncli modules a summary of a zoo network loads: the layers (any module), the spec
#: modules that find, read and resolve it, the analysis it shows, the command's own module
SUMMARY = {"cnncli", "cnncli.records", "cnncli.errors", "cnncli.files", "cnncli.commands",
           "cnncli.commands.analysis", "cnncli.commands.options", "cnncli.analysis",
           "cnncli.analysis.choices", "cnncli.analysis.analyze", "cnncli.analysis.rf",
           "cnncli.analysis.report",
           "cnncli.analysis.table", "cnncli.commands.results", "cnncli.spec",
           *(f"cnncli.spec.{m}" for m in (
               "blocks", "composites", "context", "expr", "graph", "ir", "load", "locate",
               "pretrained", "recipe", "resolve", "sharing", "variants", "yamlsrc", "yamlwords",
               "zoo"))}
#: standard-library modules a worked-out summary does without (each 0.4 to 1 ms to import):
#: dataclasses (the static path's value classes are records.Record), difflib (errors only),
#: csv (--format csv), textwrap (a narrow terminal), pkgutil
UNUSED_STDLIB = {"dataclasses", "difflib", "csv", "textwrap", "pkgutil"}
#: --version and --help: the group alone
BARE = {"cnncli", "cnncli.records", "cnncli.errors", "cnncli.commands"}
#: a summary, flops or check answered from the result cache: the group, the command's module
#: and what declaring its options needs; no spec, layers or analysis
KEPT = BARE | {"cnncli.commands.analysis", "cnncli.commands.options", "cnncli.commands.results",
               "cnncli.files", "cnncli.analysis", "cnncli.analysis.choices",
               "cnncli.analysis.table"}


def loaded(*args: str) -> set[str]:
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.rpartition("MODULES=")[2].split())


def third_party(modules: set[str]) -> set[str]:
    """Top-level packages outside the standard library, cnncli and what any interpreter here
    loads before a line runs (pip's editable-install hook, setuptools' distutils hack)."""
    tops = {m.split(".")[0] for m in modules}
    return {t for t in tops if t not in sys.stdlib_module_names and t != "cnncli"
            and t not in bare_interpreter()}


@functools.cache
def bare_interpreter() -> frozenset[str]:
    return frozenset(subprocess.run([sys.executable, "-c", "import sys; print(*sys.modules)"],
                                    capture_output=True, text=True, check=True).stdout.split())


@pytest.mark.slow  # one subprocess, but the whole spec stack: about 0.3 s on 2 busy cores
def test_summary_loads_the_spec_stack_and_nothing_more() -> None:
    modules = loaded("summary", "resnet50")
    ours = {m for m in modules if m.startswith("cnncli")}
    extra = {m for m in ours - SUMMARY if not m.startswith("cnncli.layers")}
    assert extra == set()  # no model, train, api, analysis.training, explain, zoolist, eject ...
    assert {"cnncli.spec.zoo", "cnncli.layers.conv"} <= ours
    assert modules & UNUSED_STDLIB == set()
    # yaml's C parser brings cython's runtime; no torch, rich, numpy
    assert {t for t in third_party(modules) if "cython" not in t} == {"click", "yaml"}


@pytest.mark.slow  # two subprocesses
@pytest.mark.parametrize("command", ["summary", "flops", "check"])
def test_a_kept_answer_loads_no_spec_layers_analysis_or_yaml(command: str) -> None:
    """The first call works the answer out (the stack above); a repeat prints the kept one
    (conftest gives each test a results folder of its own)."""
    assert "cnncli.spec.load" in loaded(command, "resnet50")
    modules = loaded(command, "resnet50")
    assert {m for m in modules if m.startswith("cnncli")} == KEPT
    assert third_party(modules) == {"click"}  # not even yaml


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_load_the_group_alone(flag: str) -> None:
    modules = loaded(flag)
    assert {m for m in modules if m.startswith("cnncli")} == BARE
    assert third_party(modules) == {"click"}


def test_each_static_command_s_short_help_is_its_own() -> None:
    """`cnncli --help` lists the commands from LAZY_COMMANDS without importing them; a static
    command's line is its docstring's first sentence, as click would show it (the torch
    commands' lines are written shorter there on purpose)."""
    ctx = click.Context(cli)
    static = ("summary", "flops", "list", "check", "spec", "explain", "compare", "diagram")
    for name in static:
        short = cli.get_command(ctx, name).get_short_help_str(limit=90)
        assert LAZY_COMMANDS[name][1] == short, name


def test_the_package_face_loads_on_first_use() -> None:
    assert cnncli.__version__ == "0.1.0"
    assert callable(cnncli.analyze) and issubclass(cnncli.SpecError, cnncli.CnncliError)
    importlib.import_module("cnncli.train.recipe")  # binds the subpackage on its parent

    assert callable(cnncli.train) and cnncli.train.__module__ == "cnncli.api"
    assert set(cnncli.__all__) <= set(dir(cnncli))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        cnncli.nope  # noqa: B018


@pytest.mark.slow  # one subprocess with the whole spec stack
def test_serve_and_its_jobs_never_load_torch() -> None:
    """`cnncli serve` (the command, the server, the worker) and every job it answers for a
    zoo network load no torch, numpy or rich: the playground starts as fast as summary."""
    probe = (
        "import sys\nfrom cnncli.commands import cli\nimport click\n"
        "cli.get_command(click.Context(cli), 'serve')\n"
        "from cnncli.serve import jobs\nfrom cnncli.spec.zoo import zoo_dir\n"
        "setup = jobs.Setup('net.yaml', (str(zoo_dir()),))\n"
        "text = jobs.run(setup, 'zoo', {'name': 'resnet18'})['text']\n"
        "for job, extra in [('analyze', {}), ('explain', {'path': 'layer1'}),\n"
        "                   ('compare', {'zoo': 'alexnet'}), ('export', {'format': 'csv'})]:\n"
        "    assert 'error' not in jobs.run(setup, job, {'spec': text, **extra}), job\n"
        "print(' '.join(sorted(sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    modules = set(result.stdout.split())
    assert {"cnncli.serve.app", "cnncli.serve.worker", "cnncli.commands.serve"} <= modules
    assert not {m for m in modules if m.startswith(("cnncli.model", "cnncli.train"))}
    # __mp_main__: multiprocessing's name for the main module, imported by the worker's module
    assert {t for t in third_party(modules - {"__mp_main__"}) if "cython" not in t} == \
        {"click", "yaml"}


@pytest.mark.slow  # one subprocess with the whole spec stack and numpy
def test_summary_of_an_onnx_file_never_loads_torch_or_onnx(tmp_path: Path) -> None:
    """cnncli reads ONNX files itself: neither torch nor the onnx package (an optional extra)
    is loaded, only numpy for the file's small constants."""
    import onnx_fixture
    path = onnx_fixture.unpack("resnet18.ts17.onnx", tmp_path)
    modules = loaded("summary", str(path), "--format", "json")
    assert "cnncli.onnxin.proto" in modules
    numpy_own = {"cython_runtime"} | {t for t in third_party(modules) if t.startswith("_cython")}
    assert third_party(modules) - numpy_own == {"click", "yaml", "numpy"}


@pytest.mark.slow  # one subprocess
def test_the_cli_freezes_the_heap_at_exit() -> None:
    """Python's shutdown collects garbage over every object still alive (about 10 ms of CPU
    after a summary); the CLI freezes the heap at exit instead. An exit handler registered
    before the CLI is imported runs after the CLI's (last in, first out) and sees it frozen."""
    probe = ("import atexit, gc, sys\n"
             "atexit.register(lambda: sys.stdout.write(str(gc.get_freeze_count())))\n"
             "import cnncli.commands\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=True)
    assert int(result.stdout) > 0


@pytest.mark.parametrize(("argv", "collecting"), [
    (["summary", "lenet5", "--format", "json"], False),
    (["check", "lenet5"], False),
    (["calibrate", "--help"], True),
])
def test_the_script_collects_garbage_only_for_long_commands(argv: list[str],
                                                            collecting: bool) -> None:
    """The `cnncli` script starts with the garbage collector off (5 ms of a worked-out
    summary); a command that can run for long (training, a server, a calibration) turns it
    back on as it is chosen, a static one leaves it off."""
    probe = ("import atexit, gc, sys\n"
             "atexit.register(lambda: sys.stderr.write(f'COLLECTING={gc.isenabled()}'))\n"
             "from cnncli.__main__ import run\nrun()\n")
    result = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True,
                            text=True, timeout=60, env={**os.environ, "CNNCLI_RESULTS": "off"})
    assert result.returncode == 0, result.stderr
    assert f"COLLECTING={collecting}" in result.stderr
