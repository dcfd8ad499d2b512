"""Shared test helpers."""

from __future__ import annotations

import fcntl
import gzip
import os
import pty
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import textwrap
from pathlib import Path

import numpy as np
import pytest

from cnncli.commands import main
from cnncli.errors import shown_on_stderr
from cnncli.spec.zoo import zoo_entries


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for servers and process groups)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: the tests folder (shared data: corpus, fixtures, golden) and the repository root
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def _first_of_each_file() -> frozenset[str]:
    first: dict[Path, str] = {}
    for name, entry in zoo_entries().items():  # each file's variants in the file's order
        first.setdefault(entry.file, name)
    return frozenset(first.values())


#: the networks a fast run (-m "not slow") checks in every-network tests: each zoo file's first
#: network, its smallest variant; the README's full run checks all of them
FAST_ZOO = _first_of_each_file()


def by_family(cases: list) -> list:
    """Parameters for an every-network test: a case whose network (its first value) is not in
    FAST_ZOO carries the slow marker."""
    def param(case):
        values = case if isinstance(case, tuple) else (case,)
        return pytest.param(*values, marks=() if values[0] in FAST_ZOO else pytest.mark.slow)
    return [param(case) for case in cases]


@pytest.fixture(autouse=True, scope="session")
def own_user_caches(tmp_path_factory: pytest.TempPathFactory):
    """The zoo's index and the device profiles live in folders of the test session's own,
    not in the user's ~/.cache/cnncli: a test run leaves the user's files alone, and a
    profile the user calibrated never steers a test's predicted time."""
    saved = {name: os.environ.get(name) for name in ("CNNCLI_INDEX", "CNNCLI_PROFILES")}
    for name in saved:
        os.environ[name] = str(tmp_path_factory.mktemp(name.lower()))
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def results_caches(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder that holds every test's own results cache."""
    return tmp_path_factory.mktemp("results")


@pytest.fixture(autouse=True)
def own_results_cache(results_caches: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test keeps the static commands' answers (commands.results) in a folder of its
    own: a test never replays another's answer, nor a user's from ~/.cache. (mkdtemp in one
    folder for them all: tmp_path_factory.mktemp scans the whole base folder for the next
    number, and ~2,800 of them made every test's set-up slower than the last's.)"""
    monkeypatch.setenv("CNNCLI_RESULTS", tempfile.mkdtemp(dir=results_caches))


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
def notes_on_stderr():
    """cnncli's notes shown on stderr as the CLI shows them, for tests of the functions
    behind a command that read its stderr (library calls give them as warnings)."""
    with shown_on_stderr():
        yield


@pytest.fixture
def write_spec(tmp_path: Path):
    """Write dedented YAML text to a file and return its path as a string."""

    def write(text: str, name: str = "spec.yaml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return str(path)

    return write


GOLDEN = TESTS / "golden"


def matches_golden(name: str, text: str) -> bool:
    """Compare with the reviewed output tests/golden/NAME.txt (CNNCLI_REGEN_GOLDEN=1 rewrites
    it: read the diff before committing)."""
    golden = GOLDEN / f"{name}.txt"
    if os.environ.get("CNNCLI_REGEN_GOLDEN") == "1":
        golden.write_text(text)
    return text == golden.read_text()


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def in_terminal(args: list[str], columns: int = 80, cwd: Path | None = None,
                interrupt: bool = False) -> tuple[int, str]:
    """Run `cnncli ARGS` on a pseudo-terminal `columns` wide, as a person sees it (rich's live
    bar on); with `interrupt`, press Ctrl-C once the bar shows. (exit status, raw output)"""
    main_fd, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen([sys.executable, "-m", "cnncli", *args], stdin=child, stdout=child,
                            stderr=child, cwd=cwd, env={**env, "TERM": "xterm-256color"})
    os.close(child)
    raw, sent = b"", False
    while True:
        if interrupt and not sent and "━".encode() in raw:
            proc.send_signal(signal.SIGINT)
            sent = True
        ready, _, _ = select.select([main_fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main_fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            raw += chunk
        elif proc.poll() is not None:
            break
    proc.wait()
    os.close(main_fd)
    return proc.returncode, raw.decode("utf-8", "replace")


def screen(raw: str) -> str:
    """What stays on the screen: colours gone, each line as its last carriage return left it."""
    text = ANSI.sub("", raw).replace("\r\n", "\n")
    return "\n".join(line.split("\r")[-1] for line in text.split("\n"))


def write_idx(folder: Path, prefix: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Standard IDX files (gzip), as MNIST ships them."""
    n, h, w = images.shape
    with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, h, w) + images.astype(np.uint8).tobytes())
    with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + labels.astype(np.uint8).tobytes())


@pytest.fixture
def digits(tmp_path: Path) -> Path:
    """A learnable 10-class set of 28x28 images: each class lights its own block."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for prefix, n in (("train", 600), ("t10k", 200)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 60, (n, 28, 28))
        for i, label in enumerate(labels):
            r, c = divmod(int(label), 5)
            images[i, 4 + 10 * r:12 + 10 * r, 2 + 5 * c:6 + 5 * c] += 180
        write_idx(folder, prefix, images, labels)
    return folder
