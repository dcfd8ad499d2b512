"""The process the analysis runs in, apart from the server: a spec that takes too long or
too much memory is stopped by killing the process, which a thread cannot be; the server
starts a fresh one and keeps answering.

One long-lived worker (not a process per request) keeps an answer in milliseconds: it
imports the analysis once. Its address space is capped with RLIMIT_AS where the platform has
it, so a runaway allocation fails inside the worker (MemoryError) rather than in the machine.
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.connection import Connection
from typing import Any

from .jobs import Setup, run

try:
    import resource
except ImportError:  # Windows: no rlimits; the time bound still holds
    resource = None  # type: ignore[assignment]


def serve_jobs(conn: Connection, setup: Setup, memory: int) -> None:
    """The worker's loop: (job, request) in, answer out, until the pipe closes."""
    if resource is not None and memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    while True:
        try:
            job, req = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer = run(setup, job, req)
        except MemoryError:
            answer = {"error": {"message": f"the analysis needed more than {memory >> 20} MiB "
                                           "of memory and was stopped"}}
        except RecursionError:
            answer = {"error": {"message": "the spec nests too deeply to analyse"}}
        conn.send(answer)


class Worker:
    """Runs jobs one at a time in a child process, each bounded by `timeout` seconds."""

    def __init__(self, setup: Setup, timeout: float, memory: int):
        self.setup, self.timeout, self.memory = setup, timeout, memory
        methods = multiprocessing.get_all_start_methods()
        # spawn, not fork: the server has threads, and a forked copy of a threaded process
        # may hold another thread's lock forever
        self.context = multiprocessing.get_context("spawn" if "spawn" in methods else None)
        self.lock = threading.Lock()
        self.process: Any = None
        self.conn: Connection | None = None

    def start(self) -> None:
        parent, child = self.context.Pipe()
        self.process = self.context.Process(target=serve_jobs, daemon=True,
                                            args=(child, self.setup, self.memory))
        self.process.start()
        child.close()
        self.conn = parent

    def call(self, job: str, req: dict[str, Any]) -> dict[str, Any]:
        """The job's answer, or an error answer when it ran out of time or the worker died;
        either way the next call finds a live worker."""
        with self.lock:
            if self.process is None or not self.process.is_alive():
                self.start()
            assert self.conn is not None
            try:
                self.conn.send((job, req))
                if self.conn.poll(self.timeout):
                    return self.conn.recv()
                message = (f"the analysis took longer than {self.timeout:g} s and was stopped "
                           "(a huge repeat or network?)")
            except (EOFError, OSError):
                message = "the analysis stopped unexpectedly (out of memory?)"
            self.stop()
            return {"error": {"message": message}}

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join()
        if self.conn is not None:
            self.conn.close()
        self.process = self.conn = None
