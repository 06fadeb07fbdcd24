"""The synchronous client: sends what ``_core`` describes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx

from . import _core as core
from ._config import DEFAULT_TIMEOUT, resolve_api_key, resolve_base_url
from ._version import __version__
from .jsonl import parse_requests
from .models import Batch, BatchList, BatchResults, InferenceRequest

T = TypeVar("T")


class SferenceClient:
    """``SferenceClient(base_url=None, api_key=None)``: arguments, else ``SFERENCE_BASE_URL`` and
    ``SFERENCE_API_KEY``, else https://api.sference.com and no key."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
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
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    # -- plumbing ----------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SferenceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, call: core.Call[Any], *, stream: bool = False) -> httpx.Response:
        flow = core.send_with_retries(call, base_url=self.base_url, max_retries=self.max_retries)
        outcome: httpx.Response | httpx.TransportError | None = None
        while True:
            try:
                step = flow.send(outcome)  # type: ignore[arg-type]
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            if isinstance(step, core.Sleep):
                time.sleep(step.seconds)
                outcome = None
                continue
            request = self._http.build_request(
                call.method,
                call.path,
                params=call.params,
                json=call.json,
                content=call.content() if call.content else None,
            )
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                outcome = exc
                continue
            if stream and response.status_code >= 400:
                response.read()
            outcome = response

    def _run(self, call: core.Call[T]) -> T:
        return call.parse(core.parse_json(self._send(call)))

    def _drive(self, flow: core.Flow[T]) -> T:
        result: Any = None
        while True:
            try:
                step = flow.send(result)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            if isinstance(step, core.Sleep):
                time.sleep(step.seconds)
                result = None
            else:
                result = self._run(step)

    # -- auth --------------------------------------------------------------------------------

    def get_me(self) -> dict[str, Any]:
        return self._run(core.get_me())

    # -- batches -----------------------------------------------------------------------------

    def submit_batch(
        self,
        *,
        input_file: str | Path | None = None,
        requests: list[InferenceRequest | dict[str, Any]] | None = None,
        model: str | None = None,
        window: str = "24h",
    ) -> Batch:
        """Submit a JSONL file (``input_file`` wins) or a list of ``{custom_id, body}`` rows."""
        return self._run(core.submit_batch(input_file=input_file, requests=requests, model=model, window=window))

    def get_batch(self, batch_id: str) -> Batch:
        return self._run(core.get_batch(batch_id))

    def list_batches(self, *, limit: int | None = None, before: str | None = None) -> BatchList:
        return self._run(core.list_batches(limit=limit, before=before))

    def cancel_batch(self, batch_id: str) -> Batch:
        return self._run(core.cancel_batch(batch_id))

    def get_results(self, batch_id: str) -> BatchResults:
        return self._run(core.get_results(batch_id))

    def download_results_jsonl(self, batch_id: str, out: str | Path | IO[bytes]) -> None:
        """Stream the results JSONL to a path (parent folders are made) or a binary file."""
        response = self._send(core.download_results(batch_id), stream=True)
        try:
            if isinstance(out, str | Path):
                os.makedirs(Path(out).parent, exist_ok=True)
                with open(out, "wb") as sink:
                    for chunk in response.iter_bytes():
                        sink.write(chunk)
            else:
                for chunk in response.iter_bytes():
                    out.write(chunk)
        finally:
            response.close()

    def wait_for_completion(
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
        return self._drive(flow)

    # -- files -------------------------------------------------------------------------------

    @staticmethod
    def parse_inference_requests_jsonl(path: Path, model: str | None = None) -> list[InferenceRequest]:
        return parse_requests(path, model)

    @staticmethod
    def _parse_jsonl(path: Path, model: str | None = None) -> list[dict[str, Any]]:
        return [r.model_dump() for r in parse_requests(path, model)]
