"""The asynchronous client: the same operations as ``SferenceClient``, awaited."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

from . import _core as core
from ._config import DEFAULT_TIMEOUT, resolve_api_key, resolve_base_url
from ._version import __version__
from .jsonl import parse_requests
from .models import Batch, BatchList, BatchResults, InferenceRequest

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
    ) -> None:
        self.base_url = resolve_base_url(base_url)
        self.max_retries = max_retries
        headers = {"user-agent": f"sference-sdk/{__version__}"}
        key = resolve_api_key(api_key)
        if key:
            headers["authorization"] = f"Bearer {key}"
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
                content=_aiter(call.content()) if call.content else None,
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
    ) -> Batch:
        """Submit a JSONL file (``input_file`` wins) or a list of ``{custom_id, body}`` rows."""
        return await self._run(core.submit_batch(input_file=input_file, requests=requests, model=model, window=window))

    async def get_batch(self, batch_id: str) -> Batch:
        return await self._run(core.get_batch(batch_id))

    async def list_batches(self, *, limit: int | None = None, before: str | None = None) -> BatchList:
        return await self._run(core.list_batches(limit=limit, before=before))

    async def cancel_batch(self, batch_id: str) -> Batch:
        return await self._run(core.cancel_batch(batch_id))

    async def get_results(self, batch_id: str) -> BatchResults:
        return await self._run(core.get_results(batch_id))

    async def download_results_jsonl(self, batch_id: str, out: str | Path | IO[bytes]) -> None:
        """Stream the results JSONL to a path (parent folders are made) or a binary file."""
        response = await self._send(core.download_results(batch_id), stream=True)
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

    # -- files -------------------------------------------------------------------------------

    @staticmethod
    def parse_inference_requests_jsonl(path: Path, model: str | None = None) -> list[InferenceRequest]:
        return parse_requests(path, model)

    @staticmethod
    def _parse_jsonl(path: Path, model: str | None = None) -> list[dict[str, Any]]:
        return [r.model_dump() for r in parse_requests(path, model)]
