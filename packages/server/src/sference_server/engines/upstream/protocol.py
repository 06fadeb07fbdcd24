"""The OpenAI chat-completions protocol as an upstream speaks it: the request body we send, the
answer (whole or as server-sent events) we read, and what each failure means. Errors are mapped
here, once:

- a 4xx about the request (400, 404, 413, 422, ...) -> ``Rejected``: the request fails with the
  upstream's message, it would fail again;
- 429 and 503 -> ``Throttled`` (with ``Retry-After`` when given): retried, the replica slows down;
- other 5xx, 408, 401/403 (the replica's credentials), timeouts and lost connections ->
  ``Unavailable``: retried elsewhere, and enough of them in a row take the replica out.

Tool calls come back as ``message.tool_calls`` (whole) or as ``delta.tool_calls`` fragments keyed
by ``index`` (streamed: the first fragment of a call has its id and name, later ones add to its
arguments); either way they become ``ChatResult.tool_calls``.
"""

from __future__ import annotations

import email.utils
import json
import time
import uuid
from typing import Any

import httpx

from ...domain.outcome import ToolCall
from ..base import ChatRequest, ChatResult, TextSink

FINISH_REASONS = ("stop", "length", "content_filter", "tool_calls")


class Throttled(Exception):
    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(Exception):
    pass


class Rejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def code(self) -> str:
        lowered = self.message.lower()
        if "context" in lowered and any(word in lowered for word in ("length", "maximum", "exceed", "too long")):
            return "context_length_exceeded"
        return "invalid_request"


def request_body(request: ChatRequest, model: str, extra_body: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {**request.extra, "model": model, "messages": request.messages}
    for name, value in vars(request.sampling).items():
        if value is not None:
            body[name] = value
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.stop:
        body["stop"] = request.stop
    body.update(extra_body)
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


async def complete(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> ChatResult:
    try:
        response = await client.post(url, json=body)
    except httpx.TransportError as exc:  # connect/read/write errors and timeouts
        raise Unavailable(_describe(exc)) from exc
    _raise_for_status(response.status_code, response.headers, response.content)
    try:
        answer = response.json()
        choice = answer["choices"][0]
        message = choice.get("message") or {}
        calls = ToolCalls()
        for index, call in enumerate(message.get("tool_calls") or ()):
            calls.add({**call, "index": index})
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise Unavailable(f"the upstream's answer is not a chat completion: {response.text[:200]!r}") from exc
    return _result(
        message.get("content") or "",
        choice.get("finish_reason"),
        answer.get("usage"),
        reasoning=message.get("reasoning_content") or message.get("reasoning"),
        pieces=0,
        tool_calls=calls.finished(),
    )


async def stream(client: httpx.AsyncClient, url: str, body: dict[str, Any], on_text: TextSink) -> ChatResult:
    """Send the answer's text to ``on_text`` as the upstream makes it."""
    text: list[str] = []
    reasoning: list[str] = []
    finish: str | None = None
    usage: dict[str, Any] | None = None
    calls = ToolCalls()
    try:
        async with client.stream("POST", url, json=body) as response:
            if response.status_code >= 400:
                _raise_for_status(response.status_code, response.headers, await response.aread())
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    raise Unavailable(f"the upstream failed mid-answer: {_message(chunk)}")
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices") or ():
                    delta = choice.get("delta") or {}
                    finish = choice.get("finish_reason") or finish
                    thought = delta.get("reasoning_content") or delta.get("reasoning")
                    if isinstance(thought, str):
                        reasoning.append(thought)
                    if delta.get("content"):
                        text.append(delta["content"])
                        on_text(delta["content"])
                    for fragment in delta.get("tool_calls") or ():
                        calls.add(fragment)
    except httpx.TransportError as exc:
        raise Unavailable(_describe(exc)) from exc
    except (ValueError, TypeError, AttributeError) as exc:
        raise Unavailable(f"the upstream sent a malformed event: {exc}") from exc
    return _result(
        "".join(text),
        finish,
        usage,
        reasoning="".join(reasoning) or None,
        pieces=len(text),
        tool_calls=calls.finished(),
    )


class ToolCalls:
    """The tool calls of one answer, put together from the fragments an upstream sends."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, str]] = {}

    def add(self, fragment: Any) -> None:
        if not isinstance(fragment, dict):
            raise TypeError(f"a tool call is not an object: {fragment!r}")
        function = fragment.get("function") or {}
        call = self._calls.setdefault(int(fragment.get("index") or 0), {"id": "", "name": "", "arguments": ""})
        if fragment.get("id"):
            call["id"] = str(fragment["id"])
        if function.get("name"):
            call["name"] += str(function["name"])
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            call["arguments"] += arguments
        elif arguments is not None:  # some servers send the arguments as an object
            call["arguments"] += json.dumps(arguments, separators=(",", ":"))

    def finished(self) -> tuple[ToolCall, ...]:
        """The calls in order; one the upstream sent without an id gets one."""
        return tuple(
            ToolCall(call["id"] or f"call_{uuid.uuid4().hex[:24]}", call["name"], call["arguments"])
            for _, call in sorted(self._calls.items())
        )


def _result(
    text: str,
    finish: str | None,
    usage: dict[str, Any] | None,
    *,
    reasoning: str | None,
    pieces: int,
    tool_calls: tuple[ToolCall, ...] = (),
) -> ChatResult:
    """``usage`` as the upstream reported it; an upstream that reports none (some do not when
    streaming) is credited one token per streamed piece. An answer with tool calls that the
    upstream says simply stopped finished to call them (``tool_calls``)."""
    usage = usage or {}
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    finish = finish if finish in FINISH_REASONS else "stop"
    if tool_calls and finish == "stop":
        finish = "tool_calls"
    return ChatResult(
        text=text,
        finish_reason=finish,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or pieces),
        cached_tokens=int(prompt_details.get("cached_tokens") or 0),
        reasoning=reasoning or None,
        reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
        tool_calls=tool_calls,
    )


def _raise_for_status(status: int, headers: httpx.Headers, content: bytes) -> None:
    if status < 400:
        return
    message = f"upstream answered {status}: {_message_of(content)}"
    if status in (429, 503):
        raise Throttled(message, retry_after(headers.get("retry-after")))
    if status >= 500 or status in (401, 403, 408):
        raise Unavailable(message)
    raise Rejected(status, _message_of(content))


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait, from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _message_of(content: bytes) -> str:
    try:
        return _message(json.loads(content))
    except ValueError:
        return content.decode("utf-8", errors="replace").strip()[:500] or "(no message)"


def _message(document: Any) -> str:
    if isinstance(document, dict):
        for key in ("error", "detail", "message"):
            value = document.get(key)
            if isinstance(value, dict):
                return _message(value)
            if isinstance(value, str):
                return value[:500]
            if isinstance(value, list) and value:  # FastAPI's validation details
                return json.dumps(value)[:500]
    return json.dumps(document)[:500]


def _describe(exc: httpx.TransportError) -> str:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
    return f"upstream {kind}: {type(exc).__name__} {exc}".strip()
