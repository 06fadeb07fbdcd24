"""The sans-I/O core: what to send for each operation and how to read the answer.

The sync and async clients only send what these functions describe; multi-step operations
(waiting for a batch) are generators of steps that both clients drive the same way.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from ._errors import ConnectionFailed, api_error
from ._retry import retry_delay
from .jsonl import iter_requests
from .models import Batch, BatchList, BatchResults, InferenceRequest

T = TypeVar("T")
WINDOWS = ("24h",)


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


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Attempt:
    """Send ``call`` once; the driver answers with the response or the transport error."""

    call: Call[Any]


Step = Call[Any] | Sleep
Flow = Generator[Step, Any, T]
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
                raise ConnectionFailed(f"{base_url}{call.path}", str(outcome) or type(outcome).__name__) from outcome
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
) -> Call[Batch]:
    if window not in WINDOWS:
        raise ValueError(f'Only window "24h" is supported; got {window!r}')
    if input_file is not None:
        document = FileDocument(Path(input_file), model, window)
        document.validate()
        return Call("POST", "/v1/batches", Batch.model_validate, idempotent=False, content=document.chunks)
    rows = [_row(r) for r in requests or []]
    if not rows:
        raise ValueError("At least one request is required")
    return Call(
        "POST", "/v1/batches", Batch.model_validate, idempotent=False, json={"window": window, "requests": rows}
    )


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
    count: int = field(default=0, init=False)

    def validate(self) -> None:
        self.count = sum(1 for _ in iter_requests(self.path, self.model))

    def chunks(self, size: int = 64 * 1024) -> Iterator[bytes]:
        buffer = [json.dumps({"window": self.window})[:-1], ', "requests": [']
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


def get_results(batch_id: str) -> Call[BatchResults]:
    return Call("GET", f"/v1/batches/{batch_id}/results", BatchResults.model_validate, idempotent=True)


def download_results(batch_id: str) -> Call[None]:
    return Call("GET", f"/v1/batches/{batch_id}/results.jsonl", _identity, idempotent=True, raw=True)


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
