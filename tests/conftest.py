"""Shared test helpers."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from cnncli.commands import main


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI in-process as a user would; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    return lambda *args: run_cli(list(args), capsys)


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write dedented YAML text to a file and return its path as a string."""

    def write(text: str, name: str = "spec.yaml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return str(path)

    return write


GOLDEN = Path(__file__).parent / "golden"


def matches_golden(name: str, text: str) -> bool:
    """Compare with the reviewed output tests/golden/NAME.txt (CNNCLI_REGEN_GOLDEN=1 rewrites
    it: read the diff before committing)."""
    golden = GOLDEN / f"{name}.txt"
    if os.environ.get("CNNCLI_REGEN_GOLDEN") == "1":
        golden.write_text(text)
    return text == golden.read_text()
