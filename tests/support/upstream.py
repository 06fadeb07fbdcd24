"""Real OpenAI-compatible servers to put behind the ``openai`` engine in tests.

``LlamaCppServer``: ``python -m llama_cpp.server`` (llama-cpp-python's own server) on the
embedded GGUF, as a child process we can SIGKILL. ``ThrottlingUpstream``: a small real HTTP server
in a thread that answers like the echo engine and behaves like a rate-limited hosted API: it
answers 429 with ``Retry-After`` to every ``throttle_every``-th request and to any request beyond
``max_concurrency`` in flight, and 400 to a prompt containing ``[[upstream:400]]``. Given
``tools`` (and no ``tool_choice: none``) and a last message from the user, it calls the first
tool with ``{"text": <that message>}`` instead (``finish_reason: tool_calls``; streamed as a first
fragment with the call's id and name and two fragments of its arguments); a last ``tool``
message is echoed like a user's.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sference_server.engines.llamacpp.model import embedded_model_path
from sference_server.net import listening_socket


def free_port() -> int:
    sock = listening_socket("127.0.0.1", 0)
    port: int = sock.getsockname()[1]
    sock.close()
    return port


class LlamaCppServer:
    """``python -m llama_cpp.server`` on the embedded model; ``base_url`` as the openai client takes it."""

    def __init__(self, log: Path, *, n_ctx: int = 2048, threads: int = 1) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = log
        self.args = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(embedded_model_path()),
            "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(n_ctx),
            "--n_threads", str(threads), "--verbose", "False",
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LlamaCppServer:
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text(errors="replace")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(self.log_path.read_text(errors="replace"))

    def kill(self) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __exit__(self, *exc: object) -> None:
        self.kill()
        self._log.close()


@dataclass
class ThrottlingUpstream:
    throttle_every: int = 0  # every n-th request is answered 429 (0: never)
    max_concurrency: int = 1_000_000  # requests beyond this many in flight are answered 429
    retry_after: float = 0.2
    seconds_per_word: float = 0.01
    requests: list[dict[str, Any]] = field(default_factory=list)  # every body, in order of arrival
    headers: list[dict[str, str]] = field(default_factory=list)
    throttled: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    disconnected: int = 0  # requests whose client went away before the answer was complete
    port: int = 0  # 0: any free one

    def __post_init__(self) -> None:
        app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"]),
                                Route("/v1/models", self._models)])  # fmt: skip
        sock = listening_socket("127.0.0.1", self.port)
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)

    def __enter__(self) -> ThrottlingUpstream:
        self._thread.start()
        while not self._server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    async def _models(self, _request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "scripted", "object": "model"}]})

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        last = body["messages"][-1]["content"]
        if body.get("tools") and body.get("tool_choice") != "none" and body["messages"][-1]["role"] == "user":
            return self._call_tool(body, last)
        if "[[upstream:400]]" in last:
            return JSONResponse({"error": {"message": "the scripted upstream refuses this prompt"}}, status_code=400)
        over = self.in_flight >= self.max_concurrency
        if over or (self.throttle_every and len(self.requests) % self.throttle_every == 0):
            self.throttled += 1
            return JSONResponse(
                {"error": {"message": "rate limited"}}, status_code=429, headers={"Retry-After": str(self.retry_after)}
            )
        words = ["echo:", *last.split()][: body.get("max_tokens") or None]
        if body.get("stream"):
            return StreamingResponse(self._chunks(words), media_type="text/event-stream")
        self._enter()
        try:
            await asyncio.sleep(self.seconds_per_word * len(words))
        finally:
            self.in_flight -= 1
        usage = {"prompt_tokens": 10, "completion_tokens": len(words), "prompt_tokens_details": {"cached_tokens": 4}}
        choice = {"index": 0, "message": {"role": "assistant", "content": " ".join(words)}, "finish_reason": "stop"}
        return JSONResponse({"id": "x", "object": "chat.completion", "choices": [choice], "usage": usage})

    def _call_tool(self, body: dict[str, Any], text: str) -> Response:
        call_id = f"call_{len(self.requests)}"
        name = body["tools"][0]["function"]["name"]
        arguments = json.dumps({"text": text})
        usage = {"prompt_tokens": 10, "completion_tokens": 5}
        if not body.get("stream"):
            call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
            return JSONResponse({"id": "x", "object": "chat.completion", "choices": [choice], "usage": usage})
        half = len(arguments) // 2
        fragments = [
            {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}},
            {"index": 0, "function": {"arguments": arguments[:half]}},
            {"index": 0, "function": {"arguments": arguments[half:]}},
        ]
        chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [f]}}]} for f in fragments]
        chunks += [
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
            {"choices": [], "usage": usage},
        ]
        events = b"".join(_sse({"object": "chat.completion.chunk", **chunk}) for chunk in chunks)
        return Response(events + b"data: [DONE]\n\n", media_type="text/event-stream")

    def _enter(self) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    async def _chunks(self, words: list[str]) -> AsyncIterator[bytes]:
        self._enter()
        finished = False
        try:
            for index, word in enumerate(words):
                await asyncio.sleep(self.seconds_per_word)
                delta = {"content": word if index == 0 else f" {word}"}
                yield _sse({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]})
            yield _sse(
                {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            )
            yield _sse(
                {
                    "object": "chat.completion.chunk",
                    "choices": [],
                    "usage": {"prompt_tokens": 10, "completion_tokens": len(words)},
                }
            )
            yield b"data: [DONE]\n\n"
            finished = True
        finally:
            self.in_flight -= 1
            if not finished:
                self.disconnected += 1


def _sse(document: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(document)}\n\n".encode()
