from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class ScriptedServer:
    """A real HTTP server on loopback that answers each path from a script of responses
    (status, headers, body), repeating the last one, and records the requests it saw."""

    def __init__(self) -> None:
        self.script: dict[str, deque[tuple[int, dict[str, str], Any]]] = defaultdict(deque)
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?")[0]
                server.seen.append((self.command, self.path, dict(self.headers), body))
                queue = server.script[path]
                status, headers, payload = queue.popleft() if len(queue) > 1 else queue[0]
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for key, value in {"content-type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def on(self, path: str, *responses: tuple[int, dict[str, str], Any]) -> None:
        self.script[path].extend(responses)

    def hits(self, path: str) -> int:
        return sum(1 for _, p, _, _ in self.seen if p.split("?")[0] == path)


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
