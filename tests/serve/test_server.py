"""`cnncli serve` over plain HTTP: what it refuses (another Host, other origins, big bodies,
paths it does not serve) and hostile specs, which get the CLI's error while it keeps
answering. The refusals run in process (the worker starts on the first job, so none starts);
the hostile specs go to a real `cnncli serve` with a 1 s analysis bound."""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port

from cnncli.serve.app import MAX_BODY, Playground, make_server
from cnncli.serve.jobs import Setup
from cnncli.serve.worker import Worker

SPEC = "name: tiny\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernel: 3}\n"


def ask(port: int, method: str, path: str, body: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = {"Host": f"127.0.0.1:{port}", **(headers or {})}
    if body is not None:
        sent.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=body, headers=sent)
    answer = conn.getresponse()
    status, data = answer.status, answer.read()
    conn.close()
    return status, data


def job(port: int, name: str, request: dict) -> dict:
    status, data = ask(port, "POST", f"/api/{name}", json.dumps(request).encode())
    assert status == 200, data
    return json.loads(data)


@pytest.fixture
def in_process(tmp_path: Path) -> Iterator[tuple[int, Worker]]:
    """A server in this process whose worker must never start (nothing here reaches it)."""
    worker = Worker(Setup(str(tmp_path / "net.yaml"), (str(tmp_path),)), 1.0, 1 << 30)
    server = make_server(Playground(worker, "net.yaml", SPEC), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1], worker
    server.shutdown()
    server.server_close()
    assert worker.process is None  # no refused request reached the analysis


def test_another_host_name_is_refused(in_process: tuple[int, Worker]) -> None:
    """DNS rebinding: a page on evil.example whose name now points at 127.0.0.1."""
    port, _ = in_process
    for host in (f"evil.example:{port}", "127.0.0.1", f"127.0.0.1:{port + 1}"):
        status, data = ask(port, "GET", "/", headers={"Host": host})
        assert status == 403 and b"is not this server's address" in data
    status, _ = ask(port, "POST", "/api/analyze", b"{}", {"Origin": "http://evil.example"})
    assert status == 403
    assert ask(port, "GET", "/", headers={"Host": f"localhost:{port}"})[0] == 200


def test_only_the_page_s_own_files_are_served(in_process: tuple[int, Worker]) -> None:
    port, _ = in_process
    status, page = ask(port, "GET", "/")
    assert status == 200 and b'<textarea id="source"' in page
    for path in ("/app.js", "/editor.js", "/app.css"):
        assert ask(port, "GET", path)[0] == 200
    for path in ("/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/static/../app.py",
                 "/jobs.py", "//etc/passwd", "/api/../app.py", "/index.html/.."):
        assert ask(port, "GET", path)[0] == 404, path
    assert ask(port, "POST", "/api/nothing", b"{}")[0] == 404
    start = json.loads(ask(port, "GET", "/api/start")[1])
    assert start == {"name": "net.yaml", "text": SPEC}


def test_bodies_too_big_or_not_json_are_refused_unread(in_process: tuple[int, Worker]) -> None:
    port, _ = in_process
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("POST", "/api/analyze", skip_host=True)
    for key, value in (("Host", f"127.0.0.1:{port}"), ("Content-Type", "application/json"),
                       ("Content-Length", str(MAX_BODY + 1))):
        conn.putheader(key, value)
    conn.endheaders()  # the body is never sent: the answer comes from the headers alone
    answer = conn.getresponse()
    assert answer.status == 413 and b"at most 8 MiB" in answer.read()
    conn.close()
    assert ask(port, "POST", "/api/analyze", b"spec", {"Content-Type": "text/plain"})[0] == 415
    assert ask(port, "POST", "/api/analyze", b"[1, 2]")[0] == 400
    assert ask(port, "POST", "/api/analyze", b"{not json")[0] == 400


# -- a real `cnncli serve` ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    folder = tmp_path_factory.mktemp("served")
    (folder / "net.yaml").write_text(SPEC)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cnncli", "serve", str(folder / "net.yaml"),
                             "--port", str(port), "--timeout", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert re.fullmatch(rf"cnncli serve: http://127\.0\.0\.1:{port}/  \(Ctrl-C stops it\)\n",
                        line), line + proc.stderr.read()
    yield port
    proc.terminate()
    proc.wait(timeout=10)
    proc.stdout.close()
    proc.stderr.close()


BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
HOSTILE = {
    "huge repeat": (SPEC + "  - repeat: {count: 1000000, body: [relu]}\n",
                    "repeat count 1,000,000 is more than 100,000"),
    "deep nesting": ("layers: " + "[" * 80 + "]" * 80 + "\n", "nesting deeper than 64 levels"),
    "billion laughs": (BILLION_LAUGHS, "expands to more than 200,000 values"),
    "include /etc/passwd": ("include: /etc/passwd\n" + SPEC,
                            "included file '/etc/passwd' is not in the folders"),
    "include ../../": ("include: ../../x.yaml\n" + SPEC,
                       "included file '../../x.yaml' is not in the folders"),
    "slow to analyse": (SPEC.replace("[3, 8, 8]", "[3, 4, 4]") + "  - repeat: {count: 100000, "
                        "body: [{conv: {out: 4, kernel: 1}}]}\n",
                        "the analysis took longer than 1 s and was stopped"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_spec_gets_the_cli_s_error_and_the_server_goes_on(served: int,
                                                                    case: str) -> None:
    text, message = HOSTILE[case]
    started = time.monotonic()
    answer = job(served, "analyze", {"spec": text})
    assert message in answer["error"]["message"]
    assert "Traceback" not in answer["error"]["message"]
    assert time.monotonic() - started < 15
    good = job(served, "analyze", {"spec": SPEC})  # and the next spec is answered
    assert good["summary"]["totals"]["params"] == 4 * 27 + 4


@pytest.mark.slow
def test_answers_as_summary_json_and_quickly(served: int, tmp_path: Path) -> None:
    """A 100-layer network answers in well under 100 ms (the median of 5, after a first)."""
    spec = ("name: deep\ninput: [3, 32, 32]\nlayers:\n"
            + "".join("  - conv: {out: 16, kernel: 3, padding: 1}\n  - relu\n" for _ in range(50)))
    (tmp_path / "deep.yaml").write_text(spec)
    want = json.loads(subprocess.run([sys.executable, "-m", "cnncli", "summary",
                                      str(tmp_path / "deep.yaml"), "--format", "json"],
                                     capture_output=True, text=True, check=True).stdout)
    assert job(served, "analyze", {"spec": spec})["summary"]["totals"] == want["totals"]
    times = []
    for _ in range(5):
        started = time.monotonic()
        job(served, "analyze", {"spec": spec})
        times.append(time.monotonic() - started)
    assert sorted(times)[2] < 0.1, times


def test_a_bad_spec_or_a_taken_port_is_one_located_error(cli, tmp_path: Path) -> None:
    code, out, err = cli("serve", "lenet6")
    assert code == 2 and out == ""
    assert err.startswith("error: no spec file or zoo network named 'lenet6' (did you mean")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = cli("serve", "lenet5", "--port", str(port))
    assert code == 2 and out == ""
    assert err == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
