"""A webhook receiver for the tests: a real HTTP server on a loopback port, in a thread.

Each path has a script of answers for its first requests — a status code, `"hang"` (answer
200 only after the sender's timeout has passed) or `"drop"` (close the connection without
an answer) — and answers 200 once its script is used up. Every request is recorded with
its headers, raw body and arrival time, and what it was answered.
"""
from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from service.embedded import free_port
from service.webhooks import verify

Answer = int | str


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival
    answer: Answer

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def event_id(self) -> str:
        return self.headers.get("x-rebates-event-id", "")

    def verified(self, secret: str) -> bool:
        return verify(secret, self.body, self.headers.get("x-rebates-signature"))


@dataclass
class Receiver:
    port: int
    hang_seconds: float = 3.0
    scripts: dict[str, list[Answer]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers: Answer) -> None:
        with self.lock:
            self.scripts[path] = list(answers)

    def next_answer(self, path: str) -> Answer:
        with self.lock:
            left = self.scripts.get(path) or []
            return left.pop(0) if left else 200

    def record(self, item: Received) -> None:
        with self.lock:
            self.received.append(item)

    def requests(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if path is None or r.path == path]

    def accepted(self, path: str | None = None) -> list[Received]:
        """Requests answered 2xx in time: what the sender counts as delivered."""
        return [r for r in self.requests(path) if r.answer == 200]

    def accepted_ids(self, path: str | None = None) -> list[str]:
        return [r.event_id for r in self.accepted(path)]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            answer = receiver.next_answer(self.path)
            receiver.record(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                     body, time.monotonic(), answer))
            if answer == "drop":
                self.close_connection = True
                return
            if answer == "hang":
                time.sleep(receiver.hang_seconds)
                answer = 200
            status = int(answer)
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", receiver.url("/elsewhere"))
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender that gave up (timeout) or dropped: what the tests provoke


@contextlib.contextmanager
def receiving(port: int | None = None, hang_seconds: float = 3.0) -> Iterator[Receiver]:
    """A receiver serving until the block ends (`port`: a given one, e.g. to come back on)."""
    receiver = Receiver(port or free_port(), hang_seconds)
    server = _Server(("127.0.0.1", receiver.port), _handler(receiver))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def wait_until(predicate: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.05)
