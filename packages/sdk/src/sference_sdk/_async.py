"""The asynchronous client: the same operations as ``SferenceClient``, awaited."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

from . import _core as core
from ._config import API_VERSION, DEFAULT_TIMEOUT, check_api_version, resolve_api_key, resolve_base_url
from ._version import __version__
from .jsonl import parse_requests
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
    StreamInferenceCompletionEvent,
    StreamList,
)

T = TypeVar("T")


async def _aiter(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


class AsyncSferenceClient:
    """The async twin of ``SferenceClient`` (same arguments, same methods)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 2,
        api_version: str | None = API_VERSION,
    ) -> None:
        self.base_url = resolve_base_url(base_url)
        self.max_retries = max_retries
        self.api_version = check_api_version(api_version)
        headers = core.client_headers(
            user_agent=f"sference-sdk/{__version__}", api_key=resolve_api_key(api_key), api_version=self.api_version
        )
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    # -- plumbing ----------------------------------------------------------------------------

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncSferenceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, call: core.Call[Any], *, stream: bool = False) -> httpx.Response:
        flow = core.send_with_retries(call, base_url=self.base_url, max_retries=self.max_retries)
        outcome: httpx.Response | httpx.TransportError | None = None
        while True:
            try:
                step = flow.send(outcome)  # type: ignore[arg-type]
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            if isinstance(step, core.Sleep):
                await asyncio.sleep(step.seconds)
                outcome = None
                continue
            request = self._http.build_request(
                call.method,
                call.path,
                params=call.params,
                json=call.json,
                timeout=call.timeout or httpx.USE_CLIENT_DEFAULT,
                content=_aiter(call.content()) if call.content else None,
                headers=call.headers,
            )
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                outcome = exc
                continue
            if stream and response.status_code >= 400:
                await response.aread()
            outcome = response

    async def _run(self, call: core.Call[T]) -> T:
        return call.parse(core.parse_json(await self._send(call)))

    async def _drive(self, flow: core.Flow[T]) -> T:
        result: Any = None
        while True:
            try:
                step = flow.send(result)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            if isinstance(step, core.Sleep):
                await asyncio.sleep(step.seconds)
                result = None
            else:
                result = await self._run(step)

    async def _walk(self, flow: core.IterFlow) -> AsyncIterator[Any]:
        """Drive an iterating flow, yielding what it emits."""
        result: Any = None
        while True:
            try:
                step = flow.send(result)
            except StopIteration:
                return
            result = None
            if isinstance(step, core.Emit):
                yield step.value
            elif isinstance(step, core.Sleep):
                await asyncio.sleep(step.seconds)
            else:
                result = await self._run(step)

    # -- auth --------------------------------------------------------------------------------

    async def get_me(self) -> dict[str, Any]:
        return await self._run(core.get_me())

    # -- batches -----------------------------------------------------------------------------

    async def submit_batch(
        self,
        *,
        input_file: str | Path | None = None,
        requests: list[InferenceRequest | dict[str, Any]] | None = None,
        model: str | None = None,
        window: str = "24h",
        require_feasible: bool = False,
    ) -> Batch:
        """Submit a JSONL file (``input_file`` wins) or a list of ``{custom_id, body}`` rows.
        With ``require_feasible`` the server refuses (ConflictError) a batch it estimates cannot
        finish inside its window; otherwise the answer's ``feasible`` says what it estimates."""
        call = core.submit_batch(
            input_file=input_file, requests=requests, model=model, window=window, require_feasible=require_feasible
        )
        return await self._run(call)

    async def get_batch(self, batch_id: str) -> Batch:
        return await self._run(core.get_batch(batch_id))

    async def list_batches(self, *, limit: int | None = None, before: str | None = None) -> BatchList:
        return await self._run(core.list_batches(limit=limit, before=before))

    async def cancel_batch(self, batch_id: str) -> Batch:
        return await self._run(core.cancel_batch(batch_id))

    async def retry_batch(self, batch_id: str, *, idempotency_key: str | None = None) -> Batch:
        """A new batch of the finished batch's failed, expired and cancelled rows (same custom_ids
        and bodies; ``retry_of`` names ``batch_id``). Safe to resend: one idempotency key per call."""
        return await self._run(core.retry_batch(batch_id, idempotency_key=idempotency_key))

    async def get_results(self, batch_id: str, *, merged: bool = False) -> BatchResults:
        """``merged``: a retry's rows merged with those of the batches it retries (latest wins)."""
        return await self._run(core.get_results(batch_id, merged=merged))

    async def download_results_jsonl(self, batch_id: str, out: str | Path | IO[bytes], *, merged: bool = False) -> None:
        """Stream the results JSONL to a path (parent folders are made) or a binary file;
        ``merged``: a retry's rows merged with those of the batches it retries (latest wins)."""
        response = await self._send(core.download_results(batch_id, merged=merged), stream=True)
        try:
            if isinstance(out, str | Path):
                os.makedirs(Path(out).parent, exist_ok=True)
                with open(out, "wb") as sink:
                    async for chunk in response.aiter_bytes():
                        sink.write(chunk)
            else:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
        finally:
            await response.aclose()

    async def wait_for_completion(
        self,
        batch_id: str,
        poll_interval: float = 1.0,
        timeout: float | None = 30.0,
        *,
        on_poll: Callable[[Batch], None] | None = None,
    ) -> Batch:
        """Poll until the batch is completed, failed or cancelled; TimeoutError after ``timeout`` s
        (None: wait as long as it takes). ``on_poll`` sees every batch state fetched."""
        flow = core.wait_for_completion(batch_id, poll_interval=poll_interval, timeout=timeout, on_poll=on_poll)
        return await self._drive(flow)

    # -- streams ---------------------------------------------------------------------------

    async def create_stream(self, name: str, window: str = "24h") -> Stream:
        return await self._run(core.create_stream(name, window))

    async def list_streams(self) -> StreamList:
        return await self._run(core.list_streams())

    async def get_stream(self, stream_id: str) -> Stream:
        return await self._run(core.get_stream(stream_id))

    async def cancel_stream(self, stream_id: str) -> Stream:
        """Stop taking new items and cancel pending ones; running ones finish."""
        return await self._run(core.set_stream_status(stream_id, "cancelled"))

    async def archive_stream(self, stream_id: str) -> Stream:
        """Finalise the stream: it takes no new items."""
        return await self._run(core.set_stream_status(stream_id, "archived"))

    # -- responses ---------------------------------------------------------------------------

    async def create_response(
        self,
        *,
        model: str,
        input: str | list[dict[str, Any]],
        instructions: str | None = None,
        max_output_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        include_reasoning: bool | None = None,
        metadata: dict[str, Any] | None = None,
        background: bool = False,
        extra_body: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Create one response. On API version 2026-11-01 the server answers when it is finished
        (``ServerError`` 504 past its limit); with ``background=True``, on 2025-10-01, or with
        ``metadata.stream_id`` (it joins that stream) it is queued and answered ``in_progress``
        at once (see ``wait_for_response``). ``timeout``: read timeout for this call (default:
        past the server's limit when waiting, else the client's)."""
        call = core.create_response(
            model=model,
            input=input,
            instructions=instructions,
            max_output_tokens=max_output_tokens,
            temperature=temperature,
            top_p=top_p,
            include_reasoning=include_reasoning,
            metadata=metadata,
            background=background,
            extra_body=extra_body,
            timeout=timeout,
        )
        return await self._run(call)

    async def get_response(self, response_id: str) -> Response:
        return await self._run(core.get_response(response_id))

    async def cancel_response(self, response_id: str) -> Response:
        return await self._run(core.cancel_response(response_id))

    async def list_responses(self, *, limit: int = 100, stream_id: str | None = None) -> ResponseList:
        return await self._run(core.list_responses(limit=limit, stream_id=stream_id))

    async def wait_for_response(
        self, response_id: str, poll_interval: float = 0.5, timeout: float | None = 3600.0
    ) -> Response:
        """Poll until the response is finished; TimeoutError after ``timeout`` s (None: no limit)."""
        return await self._drive(core.wait_for_response(response_id, poll_interval=poll_interval, timeout=timeout))

    # -- models, embeddings, decisions ---------------------------------------------------------

    async def list_models(self) -> ModelList:
        """The models the server serves (``modality`` says which endpoint takes each)."""
        return await self._run(core.list_models())

    async def create_embeddings(
        self,
        *,
        model: str,
        input: str | list[str],
        encoding_format: EmbeddingEncodingFormat = "float",
        dimensions: int | None = None,
        timeout: float | None = None,
    ) -> EmbeddingResponse:
        """One vector per input (``.vectors()`` gives floats whichever ``encoding_format``)."""
        call = core.create_embeddings(
            model=model, input=input, encoding_format=encoding_format, dimensions=dimensions, timeout=timeout
        )
        return await self._run(call)

    async def create_decision(
        self,
        *,
        model: str,
        state: Any,
        questions: Mapping[str, DecisionQuestion | Mapping[str, Any]],
        images: Sequence[str | DecisionImage | Mapping[str, Any]] | None = None,
        timeout: float | None = None,
    ) -> DecisionResponse:
        """Answer ``questions`` (name -> ``ChoiceQuestion``/``ScoreQuestion``/``NoulQuestion`` or
        the same as a dict) about ``state`` (text or any JSON value) in one call."""
        call = core.create_decision(model=model, state=state, questions=questions, images=images, timeout=timeout)
        return await self._run(call)

    # -- completion events -------------------------------------------------------------------

    async def list_responses_events(
        self,
        *,
        stream_id: str | None = None,
        limit: int = 20,
        starting_after: str | None = None,
        ending_before: str | None = None,
        wait_ms: int = 0,
    ) -> StreamEventList:
        """One page of the feed, oldest first (``wait_ms``: wait that long for an event)."""
        call = core.list_responses_events(
            stream_id=stream_id,
            limit=limit,
            starting_after=starting_after,
            ending_before=ending_before,
            wait_ms=wait_ms,
        )
        return await self._run(call)

    async def iter_responses_events(
        self,
        *,
        stream_id: str | None = None,
        consumer_name: str = "default",
        starting_after: str | None = None,
        checkpoint: bool = True,
        from_latest: bool = False,
        follow: bool = False,
        wait_ms: int = 25_000,
    ) -> AsyncIterator[StreamInferenceCompletionEvent]:
        """Every event once, in completion order, resuming from the consumer's checkpoint
        (saved after each event). With ``follow`` it keeps waiting for new events."""
        flow = core.iter_responses_events(
            base_url=self.base_url,
            stream_id=stream_id,
            consumer_name=consumer_name,
            starting_after=starting_after,
            checkpoint=checkpoint,
            from_latest=from_latest,
            follow=follow,
            wait_ms=wait_ms,
        )
        async for event in self._walk(flow):
            yield event

    # -- files -------------------------------------------------------------------------------

    @staticmethod
    def parse_inference_requests_jsonl(path: Path, model: str | None = None) -> list[InferenceRequest]:
        return parse_requests(path, model)

    @staticmethod
    def _parse_jsonl(path: Path, model: str | None = None) -> list[dict[str, Any]]:
        return [r.model_dump() for r in parse_requests(path, model)]
