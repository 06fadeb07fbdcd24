"""The sans-I/O core: what to send for each operation and how to read the answer.

The sync and async clients only send what these functions describe; multi-step operations
(waiting for a batch) are generators of steps that both clients drive the same way.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from ._config import API_VERSION_HEADER
from ._errors import AnswerTimeout, ConnectionFailed, api_error
from ._retry import retry_delay
from .checkpoints import clear_checkpoint, load_checkpoint, save_checkpoint
from .jsonl import iter_requests
from .models import (
    Batch,
    BatchList,
    BatchResults,
    DecisionImage,
    DecisionQuestion,
    DecisionResponse,
    EmbeddingEncodingFormat,
    EmbeddingResponse,
    InferenceRequest,
    ModelList,
    Response,
    ResponseList,
    Stream,
    StreamEventList,
    StreamList,
)

T = TypeVar("T")
WINDOWS = ("24h",)
STREAM_WINDOWS = ("1h", "24h")
MAX_WAIT_MS = 30_000
# Read timeout of calls the server answers only when the work is done (a blocking response,
# embeddings, decisions): longer than the server waits before it answers 504 (at most 600 s by
# default), so that the server's answer, not the client's patience, ends the call.
ANSWER_TIMEOUT = 660.0
FEED_START = ""  # a cursor that sorts before every event id


@dataclass(frozen=True)
class Call[T]:
    method: str
    path: str
    parse: Callable[[Any], T]
    idempotent: bool
    params: dict[str, Any] | None = None
    json: Any = None
    content: Callable[[], Iterable[bytes]] | None = None  # a streamed body (made fresh per send)
    raw: bool = False  # the answer is bytes to stream, not JSON
    timeout: float | None = None  # read timeout for this call, when the default is too short
    headers: Mapping[str, str] | None = None  # sent with every attempt of this call


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Emit:
    """Hand ``value`` to the caller of an iterating method (the flow then continues)."""

    value: Any


@dataclass(frozen=True)
class Attempt:
    """Send ``call`` once; the driver answers with the response or the transport error."""

    call: Call[Any]


Step = Call[Any] | Sleep
Flow = Generator[Step, Any, T]
IterFlow = Generator[Step | Emit, Any, None]
SendFlow = Generator[Attempt | Sleep, "httpx.Response | httpx.TransportError", httpx.Response]


def send_with_retries(call: Call[Any], *, base_url: str, max_retries: int) -> SendFlow:
    """Send, and send again after 429/503 (any call) or 502/504 and dropped connections
    (idempotent calls), waiting as ``Retry-After`` says or backing off. An error response must
    be read before it is handed back."""
    attempt = 0
    while True:
        outcome = yield Attempt(call)
        if isinstance(outcome, httpx.TransportError):
            delay = retry_delay(attempt=attempt, idempotent=call.idempotent, error=outcome, max_retries=max_retries)
            if delay is None:
                failed = AnswerTimeout if isinstance(outcome, httpx.ReadTimeout) else ConnectionFailed
                raise failed(f"{base_url}{call.path}", str(outcome) or type(outcome).__name__) from outcome
        elif outcome.status_code < 400:
            return outcome
        else:
            delay = retry_delay(
                attempt=attempt,
                idempotent=call.idempotent,
                status=outcome.status_code,
                retry_after=outcome.headers.get("retry-after"),
                max_retries=max_retries,
            )
            if delay is None:
                raise decode_error(outcome)
        attempt += 1
        yield Sleep(delay)


def decode_error(response: httpx.Response) -> Exception:
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text}
    return api_error(response.status_code, body)


def parse_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise api_error(response.status_code, {"detail": f"expected JSON, got: {response.text[:200]}"}) from exc


def _identity(value: Any) -> Any:
    return value


def client_headers(*, user_agent: str, api_key: str | None, api_version: str | None) -> dict[str, str]:
    """Headers of every request: who sends, with which key, for which API version (none: the key's)."""
    headers = {"user-agent": user_agent}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    if api_version is not None:
        headers[API_VERSION_HEADER] = api_version
    return headers


# -- auth ------------------------------------------------------------------------------------


def get_me() -> Call[dict[str, Any]]:
    return Call("GET", "/v1/auth/me", _identity, idempotent=True)


# -- batches ---------------------------------------------------------------------------------


def submit_batch(
    *,
    input_file: str | Path | None,
    requests: Sequence[InferenceRequest | dict[str, Any]] | None,
    model: str | None,
    window: str,
    require_feasible: bool = False,
) -> Call[Batch]:
    """``require_feasible``: the server refuses (409, ConflictError) a batch it estimates cannot
    finish inside its window, instead of accepting it with ``feasible=False``."""
    if window not in WINDOWS:
        raise ValueError(f'Only window "24h" is supported; got {window!r}')
    if input_file is not None:
        document = FileDocument(Path(input_file), model, window, require_feasible)
        document.validate()
        return Call("POST", "/v1/batches", Batch.model_validate, idempotent=False, content=document.chunks)
    rows = [_row(r) for r in requests or []]
    if not rows:
        raise ValueError("At least one request is required")
    options: dict[str, Any] = {"window": window, **({"require_feasible": True} if require_feasible else {})}
    return Call("POST", "/v1/batches", Batch.model_validate, idempotent=False, json={**options, "requests": rows})


def _row(request: InferenceRequest | dict[str, Any]) -> dict[str, Any]:
    if isinstance(request, dict) and {"method", "url", "body"} <= set(request):
        request = {"custom_id": request.get("custom_id"), "body": request["body"]}
    return InferenceRequest.model_validate(request).model_dump()


@dataclass
class FileDocument:
    """A batch document made from a JSONL file, streamed in chunks (the file is read twice:
    once to validate every line before anything is sent, once to send)."""

    path: Path
    model: str | None
    window: str
    require_feasible: bool = False
    count: int = field(default=0, init=False)

    def validate(self) -> None:
        self.count = sum(1 for _ in iter_requests(self.path, self.model))

    def chunks(self, size: int = 64 * 1024) -> Iterator[bytes]:
        options: dict[str, Any] = {"window": self.window}
        if self.require_feasible:
            options["require_feasible"] = True
        buffer = [json.dumps(options)[:-1], ', "requests": [']
        length = 0
        for i, request in enumerate(iter_requests(self.path, self.model)):
            piece = ("," if i else "") + request.model_dump_json()
            buffer.append(piece)
            length += len(piece)
            if length >= size:
                yield "".join(buffer).encode()
                buffer, length = [], 0
        buffer.append("]}")
        yield "".join(buffer).encode()


def get_batch(batch_id: str) -> Call[Batch]:
    return Call("GET", f"/v1/batches/{batch_id}", Batch.model_validate, idempotent=True)


def list_batches(*, limit: int | None = None, before: str | None = None) -> Call[BatchList]:
    params = {k: v for k, v in (("limit", limit), ("before", before)) if v is not None}
    return Call("GET", "/v1/batches", BatchList.model_validate, idempotent=True, params=params or None)


def cancel_batch(batch_id: str) -> Call[Batch]:
    # Cancelling twice answers the same batch, so a retry is safe.
    return Call("POST", f"/v1/batches/{batch_id}/cancel", Batch.model_validate, idempotent=True)


def retry_batch(batch_id: str, *, idempotency_key: str | None = None) -> Call[Batch]:
    """A new batch of the finished batch's failed, expired and cancelled rows. Every attempt of
    the call carries one ``Idempotency-Key`` (the caller's, or one made here), so a resend after
    a dropped connection answers the batch the first attempt made instead of making another."""
    headers = {"idempotency-key": idempotency_key or str(uuid.uuid4())}
    return Call("POST", f"/v1/batches/{batch_id}/retry", Batch.model_validate, idempotent=True, headers=headers)


def _merged(merged: bool) -> dict[str, Any] | None:
    return {"merged": "true"} if merged else None


def get_results(batch_id: str, *, merged: bool = False) -> Call[BatchResults]:
    path = f"/v1/batches/{batch_id}/results"
    return Call("GET", path, BatchResults.model_validate, idempotent=True, params=_merged(merged))


def download_results(batch_id: str, *, merged: bool = False) -> Call[None]:
    path = f"/v1/batches/{batch_id}/results.jsonl"
    return Call("GET", path, _identity, idempotent=True, raw=True, params=_merged(merged))


def wait_for_completion(
    batch_id: str,
    *,
    poll_interval: float,
    timeout: float | None,
    on_poll: Callable[[Batch], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Flow[Batch]:
    """Poll until the batch is terminal; TimeoutError after ``timeout`` seconds (None: never)."""
    started = clock()
    while True:
        batch: Batch = yield get_batch(batch_id)
        if on_poll is not None:
            on_poll(batch)
        if batch.is_terminal:
            return batch
        if timeout is not None and clock() - started >= timeout:
            raise TimeoutError(f"batch {batch_id} is still {batch.status} after {timeout:g} s")
        yield Sleep(poll_interval)


# -- streams ---------------------------------------------------------------------------------


def create_stream(name: str, window: str) -> Call[Stream]:
    if window not in STREAM_WINDOWS:
        raise ValueError(f"window must be one of {', '.join(STREAM_WINDOWS)}; got {window!r}")
    return Call("POST", "/v1/streams", Stream.model_validate, idempotent=False, json={"name": name, "window": window})


def list_streams() -> Call[StreamList]:
    return Call("GET", "/v1/streams", StreamList.model_validate, idempotent=True)


def get_stream(stream_id: str) -> Call[Stream]:
    return Call("GET", f"/v1/streams/{stream_id}", Stream.model_validate, idempotent=True)


def set_stream_status(stream_id: str, status: str) -> Call[Stream]:
    return Call("PATCH", f"/v1/streams/{stream_id}", Stream.model_validate, idempotent=True, json={"status": status})


# -- responses -------------------------------------------------------------------------------


def create_response(
    *,
    model: str,
    input: str | list[dict[str, Any]],
    instructions: str | None,
    max_output_tokens: int | None,
    temperature: float | None,
    top_p: float | None,
    include_reasoning: bool | None,
    metadata: dict[str, Any] | None,
    background: bool,
    extra_body: dict[str, Any] | None,
    timeout: float | None,
) -> Call[Response]:
    """Without ``background`` a server on API version 2026-11-01 answers once the response is
    finished (so the read timeout is long); with it, or on 2025-10-01, it answers at once."""
    body: dict[str, Any] = {"model": model, "input": input}
    optional = {
        "instructions": instructions,
        "max_output_tokens": max_output_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "include_reasoning": include_reasoning,
        "metadata": metadata,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if background:
        body["background"] = True  # never sent as false, like sference-sdk 0.3.2
    body.update(extra_body or {})
    read_timeout = timeout if timeout is not None else (None if background else ANSWER_TIMEOUT)
    return Call("POST", "/v1/responses", Response.model_validate, idempotent=False, json=body, timeout=read_timeout)


def get_response(response_id: str) -> Call[Response]:
    return Call("GET", f"/v1/responses/{response_id}", Response.model_validate, idempotent=True)


def cancel_response(response_id: str) -> Call[Response]:
    return Call("DELETE", f"/v1/responses/{response_id}", Response.model_validate, idempotent=True)


def list_responses(*, limit: int, stream_id: str | None) -> Call[ResponseList]:
    params: dict[str, Any] = {"limit": limit}
    if stream_id is not None:
        params["stream_id"] = stream_id
    return Call("GET", "/v1/responses", ResponseList.model_validate, idempotent=True, params=params)


def wait_for_response(
    response_id: str, *, poll_interval: float, timeout: float | None, clock: Callable[[], float] = time.monotonic
) -> Flow[Response]:
    started = clock()
    while True:
        response: Response = yield get_response(response_id)
        if response.is_terminal:
            return response
        if timeout is not None and clock() - started >= timeout:
            raise TimeoutError(f"response {response_id} is still {response.status} after {timeout:g} s")
        yield Sleep(poll_interval)


# -- models, embeddings, decisions ---------------------------------------------------------


def list_models() -> Call[ModelList]:
    return Call("GET", "/v1/models", ModelList.model_validate, idempotent=True)


def create_embeddings(
    *,
    model: str,
    input: str | Sequence[str],
    encoding_format: EmbeddingEncodingFormat,
    dimensions: int | None,
    timeout: float | None,
) -> Call[EmbeddingResponse]:
    if encoding_format not in ("float", "base64"):
        raise ValueError(f'encoding_format must be "float" or "base64"; got {encoding_format!r}')
    body: dict[str, Any] = {
        "model": model,
        "input": input if isinstance(input, str) else list(input),
        "encoding_format": encoding_format,
    }
    if dimensions is not None:
        body["dimensions"] = dimensions
    return Call(
        "POST",
        "/v1/embeddings",
        EmbeddingResponse.model_validate,
        # Safe to repeat, but a 504 means the server already waited its limit: do not wait again.
        idempotent=False,
        json=body,
        timeout=ANSWER_TIMEOUT if timeout is None else timeout,
    )


def create_decision(
    *,
    model: str,
    state: Any,
    questions: Mapping[str, DecisionQuestion | Mapping[str, Any]],
    images: Sequence[str | DecisionImage | Mapping[str, Any]] | None,
    timeout: float | None,
) -> Call[DecisionResponse]:
    """Questions and images may be models or plain dicts; dicts are sent as they are, so the
    server's rules (not a copy of them here) decide what is valid."""
    body: dict[str, Any] = {"model": model, "state": state, "questions": {k: _plain(q) for k, q in questions.items()}}
    if images is not None:
        body["images"] = [image if isinstance(image, str) else _plain(image) for image in images]
    return Call(
        "POST",
        "/v1/decisions",
        DecisionResponse.model_validate,
        idempotent=False,  # as for embeddings: a 504 is not worth waiting for twice
        json=body,
        timeout=ANSWER_TIMEOUT if timeout is None else timeout,
    )


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else dict(value)


# -- the completion-events feed --------------------------------------------------------------


def list_responses_events(
    *, stream_id: str | None, limit: int, starting_after: str | None, ending_before: str | None, wait_ms: int
) -> Call[StreamEventList]:
    params: dict[str, Any] = {"limit": limit, "wait_ms": wait_ms}
    for key, value in (("stream_id", stream_id), ("starting_after", starting_after), ("ending_before", ending_before)):
        if value is not None:
            params[key] = value
    return Call(
        "GET",
        "/v1/responses/events",
        StreamEventList.model_validate,
        idempotent=True,
        params=params,
        timeout=min(wait_ms, MAX_WAIT_MS) / 1000 + 15,
    )


def iter_responses_events(
    *,
    base_url: str,
    stream_id: str | None,
    consumer_name: str,
    starting_after: str | None,
    checkpoint: bool,
    from_latest: bool,
    follow: bool,
    wait_ms: int,
    page_size: int = 100,
) -> IterFlow:
    """Events in completion order, each once.

    Starts after ``starting_after``, else after the consumer's checkpoint, else at the newest
    page (``from_latest``: after the newest event, skipping history). Saves the checkpoint after
    each event handed out. Stops when the feed is drained, unless ``follow``.
    """
    if checkpoint and from_latest:
        clear_checkpoint(base_url, stream_id, consumer_name)
    cursor = starting_after
    if cursor is None and checkpoint and not from_latest:
        cursor = load_checkpoint(base_url, stream_id, consumer_name)
    if cursor is None and from_latest:
        newest: StreamEventList = yield list_responses_events(
            stream_id=stream_id, limit=1, starting_after=None, ending_before=None, wait_ms=0
        )
        # An empty feed: every event from now on is new, so read from the start.
        cursor = newest.data[-1].completion_id if newest.data else FEED_START
    while True:
        page: StreamEventList = yield list_responses_events(
            stream_id=stream_id,
            limit=page_size,
            starting_after=cursor,
            ending_before=None,
            wait_ms=wait_ms if follow else 0,
        )
        for event in page.data:
            yield Emit(event)
            cursor = event.completion_id
            if checkpoint:
                save_checkpoint(base_url, stream_id, consumer_name, event.completion_id)
        if not page.has_more and not follow:
            return
