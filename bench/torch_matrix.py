"""The release check: the whole suite, warnings as errors, on each torch the project claims.

For each torch version: a fresh venv under --venvs, `pip install torch==VERSION` (plus any
extra requirements given after a comma), then the project (`pip install -e .`) and the `dev`
extra's other packages (its torch pin left out), then pytest, whose configuration in
pyproject.toml turns every warning into an error (bar the few it names; a `-W error` here
would override those). One Markdown row per version: torch, numpy, result, pytest's summary
line, install and test minutes.

By default: the newest torch on the registry and the floor of pyproject.toml's `torch>=`.
Newer torch builds from PyPI are CUDA wheels of several GB; the CPU-only tests run on them
all the same. Where a pip config caps torch (a constraints file), run with
PIP_CONFIG_FILE=/dev/null so pip sees the registry as a user does.

Run: python bench/torch_matrix.py [--torch 2.15.0 --torch "2.2.0,numpy<2"] [--venvs DIR]
     [--keep]
Standard library only; Python 3.11+ (tomllib).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    torch: str
    extra: list[str]
    numpy: str = "?"
    passed: bool = False
    summary: str = ""
    install_s: float = 0.0
    test_s: float = 0.0

    def markdown(self) -> str:
        extra = f" ({', '.join(self.extra)})" if self.extra else ""
        return (f"| {self.torch}{extra} | {self.numpy} | {'pass' if self.passed else 'FAIL'} "
                f"| {self.summary} | {self.install_s / 60:.1f} min | {self.test_s / 60:.1f} min |")


def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def project() -> dict:
    return pyproject()["project"]


def floor() -> str:
    """The oldest torch the project claims: X.Y of `torch>=X.Y` as X.Y.0."""
    for dep in project()["dependencies"]:
        found = re.fullmatch(r"torch\s*>=\s*([\d.]+)", dep)
        if found:
            parts = (found.group(1).split(".") + ["0", "0"])[:3]
            return ".".join(parts)
    raise SystemExit("pyproject.toml has no torch>= requirement")


def newest() -> str:
    out = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "torch"],
                         capture_output=True, text=True, check=True).stdout
    found = re.search(r"^torch \(([^)]+)\)", out, re.M)
    if not found:
        raise SystemExit(f"could not read the newest torch from pip:\n{out}")
    return found.group(1)


def dev_packages() -> list[str]:
    """The dev extra without its torch pin (the matrix chooses torch), and the build
    backend: a test builds the wheel without build isolation."""
    return [dep for dep in project()["optional-dependencies"]["dev"]
            if not re.match(r"torch\b", dep)] + pyproject()["build-system"]["requires"]


def run(cmd: list[str], log: Path) -> subprocess.CompletedProcess[str]:
    with log.open("a") as handle:
        handle.write(f"$ {' '.join(cmd)}\n")
        handle.flush()
        return subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, text=True,
                              cwd=ROOT)


def install(row: Row, venv: Path, log: Path) -> bool:
    start = time.perf_counter()
    shutil.rmtree(venv, ignore_errors=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
           "--disable-pip-version-check"]
    ok = (run([sys.executable, "-m", "venv", str(venv)], log).returncode == 0
          and run([*pip, f"torch=={row.torch}", *row.extra], log).returncode == 0
          and run([*pip, "-e", ".", *dev_packages(), f"torch=={row.torch}", *row.extra],
                  log).returncode == 0)
    row.install_s = time.perf_counter() - start
    return ok


def test(row: Row, venv: Path, log: Path) -> None:
    python = str(venv / "bin" / "python")
    numpy = subprocess.run([python, "-c", "import numpy; print(numpy.__version__)"],
                           capture_output=True, text=True)
    row.numpy = numpy.stdout.strip() or "?"
    start = time.perf_counter()
    # pyproject's addopts already has -q; a second one would drop the summary line.
    result = run([python, "-m", "pytest", "-p", "no:cacheprovider"], log)
    row.test_s = time.perf_counter() - start
    row.passed = result.returncode == 0
    lines = [line for line in log.read_text().splitlines() if re.search(
        r"\d+ (passed|failed|error)", line)]
    row.summary = lines[-1].strip("= ") if lines else f"pytest exit {result.returncode}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", action="append", metavar="VERSION[,REQ...]",
                        help="torch version, optionally with extra requirements "
                             "(default: the newest, and the pyproject floor)")
    parser.add_argument("--venvs", default=str(ROOT / ".matrix"), help="where the venvs go")
    parser.add_argument("--keep", action="store_true", help="keep the venvs (GBs each)")
    args = parser.parse_args()
    rows = [Row(spec.split(",")[0], spec.split(",")[1:])
            for spec in (args.torch or [newest(), floor()])]
    venvs = Path(args.venvs)
    venvs.mkdir(parents=True, exist_ok=True)
    for row in rows:
        name = re.sub(r"[^\w.]+", "_", "-".join(["torch", row.torch, *row.extra]))
        venv, log = venvs / name, venvs / f"{name}.log"
        log.write_text("")
        print(f"torch {row.torch}: installing (log {log})", flush=True)
        if install(row, venv, log):
            print(f"torch {row.torch}: testing", flush=True)
            test(row, venv, log)
        else:
            row.summary = "install failed (see the log)"
        print(row.markdown(), flush=True)
        if not args.keep:
            shutil.rmtree(venv, ignore_errors=True)
    print(f"\n{sys.platform}, Python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    print("| torch | numpy | result | pytest | install | tests |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(row.markdown())
    sys.exit(0 if all(row.passed for row in rows) else 1)


if __name__ == "__main__":
    main()
