"""The playground's HTTP side: the standard library's threading server, a fixed set of files
from the package, and POST /api/JOB answered by the worker process.

What it refuses, and why (docs/security.md, "cnncli serve"): a Host header other than the
address served (a DNS-rebinding page would send its own name), an Origin from elsewhere,
a body that is not JSON or is larger than MAX_BODY (413, unread), any path not in STATIC
(404: nothing is looked up on disk from a URL).
"""

from __future__ import annotations

import json
import socket
import sys
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any

from ..spec.yamlsrc import MAX_BYTES
from .jobs import JOBS
from .worker import Worker

#: a request body: the spec and, for compare, its previous text, with room for JSON escapes
MAX_BODY = 2 * MAX_BYTES + (64 << 10)
#: URL -> (file in cnncli/serve/static, content type); nothing else is served
STATIC = {"/": ("index.html", "text/html; charset=utf-8"),
          "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/editor.js": ("editor.js", "text/javascript; charset=utf-8"),
          "/app.css": ("app.css", "text/css; charset=utf-8")}
# the page and its answers may use only what this server sends: no CDN, no network
HEADERS = {"Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                      "img-src 'self' data: blob:; frame-ancestors 'none'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-store"}


@dataclass
class Playground:
    """What the handler needs: the worker, the first spec, and the Host values it answers."""

    worker: Worker
    name: str
    text: str
    hosts: set[str] = field(default_factory=set)


class Handler(BaseHTTPRequestHandler):
    server_version = "cnncli-serve"
    app: Playground  # set on the subclass made by make_server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        """Quiet: the terminal shows the URL, not a line per keystroke's request."""

    def do_GET(self) -> None:
        if not self._host_ok():
            return
        path = self.path.split("?", 1)[0]
        if path == "/api/start":
            self._json(HTTPStatus.OK, {"name": self.app.name, "text": self.app.text})
            return
        if path not in STATIC:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
            return
        name, kind = STATIC[path]
        self._send(HTTPStatus.OK, files(__package__).joinpath("static", name).read_bytes(), kind)

    def do_POST(self) -> None:
        if not self._host_ok():
            return
        job = self.path.removeprefix("/api/")
        if not self.path.startswith("/api/") or job not in JOBS:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
            return
        req = self._body()
        if req is not None:
            self._json(HTTPStatus.OK, self.app.worker.call(job, req))

    def _host_ok(self) -> bool:
        """Only requests addressed to this server by its own name; a browser sends the
        page's Origin with a POST, which must be this server too."""
        host = self.headers.get("Host", "")
        origin = self.headers.get("Origin")
        if host not in self.app.hosts:
            self._refuse(HTTPStatus.FORBIDDEN, f"Host {host!r} is not this server's address")
            return False
        if origin is not None and origin.removeprefix("http://") not in self.app.hosts:
            self._refuse(HTTPStatus.FORBIDDEN, f"requests from {origin!r} are not served")
            return False
        return True

    def _body(self) -> dict[str, Any] | None:
        """The request's JSON object, or None after answering why not."""
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._refuse(HTTPStatus.LENGTH_REQUIRED, "a request needs a Content-Length")
            return None
        if int(length) > MAX_BODY:
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                         f"a request may be at most {MAX_BODY >> 20} MiB")
            return None
        if self.headers.get_content_type() != "application/json":
            self._refuse(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the request as JSON")
            return None
        try:
            req = json.loads(self.rfile.read(int(length)))
        except (ValueError, UnicodeDecodeError):
            req = None
        if not isinstance(req, dict):
            self._refuse(HTTPStatus.BAD_REQUEST, "the request is not a JSON object")
            return None
        return req

    def _refuse(self, status: HTTPStatus, message: str) -> None:
        self.close_connection = True  # an unread body must not be taken for the next request
        self._json(status, {"error": {"message": message}})

    def _json(self, status: HTTPStatus, data: dict[str, Any]) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for key, value in HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


def make_server(app: Playground, host: str, port: int) -> ThreadingHTTPServer:
    """A server bound to host:port (0: a free port), answering to its own address only."""
    handler = type("PlaygroundHandler", (Handler,), {"app": app})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    bound = server.server_address[1]
    names = {host, "localhost", "127.0.0.1"} if host in ("127.0.0.1", "localhost") else {host}
    if host in ("0.0.0.0", "::"):  # every address: the names this machine is reached by
        names |= {"localhost", "127.0.0.1", socket.gethostname(), socket.getfqdn()}
    app.hosts = {f"{name}:{bound}" for name in names} | (
        {f"[{host}]:{bound}"} if ":" in host else set())
    return server


def url_of(server: ThreadingHTTPServer, host: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{server.server_address[1]}/"


def run_until_stopped(server: ThreadingHTTPServer, app: Playground) -> None:
    """Serve until Ctrl-C, then stop the worker."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
        app.worker.stop()
