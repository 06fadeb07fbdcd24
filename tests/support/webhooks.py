"""A real webhook receiver on loopback: a threaded HTTP server that verifies every request with the
reference implementation (``standardwebhooks``) and records what it got."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


class Receiver:
    """``url`` takes POSTs; each answers ``statuses.pop(0)`` (200 once they run out). ``secret``
    must be set (to the endpoint's) before deliveries arrive; a request whose signature does not
    verify is recorded with ``verified=False`` and answered 400."""

    def __init__(self, port: int = 0) -> None:
        self.secret: str | None = None
        self.statuses: list[int] = []
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver._answer(self, headers, body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _answer(self, handler: BaseHTTPRequestHandler, headers: dict[str, str], body: bytes) -> None:
        try:
            assert self.secret is not None, "the test did not give the receiver its secret"
            Webhook(self.secret).verify(body, headers)
            verified = True
        except Exception:
            verified = False
        with self._lock:
            status = (self.statuses.pop(0) if self.statuses else 200) if verified else 400
            self.received.append(Received(headers, body, verified, status))
        handler.send_response(status)
        handler.send_header("content-length", "0")
        handler.end_headers()

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, check: Callable[[list[Received]], bool], *, timeout: float = 30.0) -> list[Received]:
        """Wait until ``check(received so far)`` holds; return what was received."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                got = list(self.received)
            if check(got):
                return got
            if time.monotonic() > deadline:
                raise TimeoutError(f"the receiver got {len(got)} request(s): {[r.payload for r in got]}")
            time.sleep(0.05)

    def of_type(self, event_type: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.payload.get("type") == event_type]


class Trickler:
    """A receiver that never finishes answering: after the status line it sends a header line
    every ``every`` seconds, so no single read ever waits long enough for a read timeout.
    ``connections`` counts the requests it took."""

    def __init__(self, every: float = 0.2) -> None:
        self.every = every
        self.connections = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/slow"
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while not self._stop.wait(self.every):
                    conn.sendall(b"x-still-thinking: 1\r\n")
            except OSError:  # the client gave up
                return

    def __enter__(self) -> Trickler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()
