"""``bert``: sentence embeddings behind the EmbeddingEngine protocol (docs/embeddings.md).

One thread runs the model; requests queue for it, urgent ones (a client waits on the
connection) first. It takes one request at a time, plus as many queued ones as fit in the
rest of a forward batch, so that many one-input requests (a batch file of single texts) run as
a few full batches rather than one by one. A request cancelled before its turn is skipped; one
cancelled while it runs finishes, unseen (numpy cannot be interrupted).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base import ChatRequest, ChatResult, EmbeddingRequest, EmbeddingResult, EngineError, TextSink
from ..options import cpu_count
from .model import BertModel, Floats, limit_blas_threads
from .options import BertOptions

log = logging.getLogger("sference.engine.bert")


@dataclass
class _Job:
    request: EmbeddingRequest
    future: asyncio.Future[EmbeddingResult]
    loop: asyncio.AbstractEventLoop
    cancelled: bool = False


class BertEngine:
    def __init__(self, model_id: str, options: BertOptions) -> None:
        self.model_id = model_id
        self.options = options
        self._model: BertModel | None = None
        self._urgent: deque[_Job] = deque()
        self._queued: deque[_Job] = deque()
        self._wake = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None

    @property
    def capacity(self) -> int:
        """Two forward batches' worth of requests: one running, the next one queued."""
        return 2 * self.options.batch_size

    async def start(self) -> None:
        await asyncio.to_thread(self._load)

    def _load(self) -> None:
        threads = self.options.threads or cpu_count()
        # The model's own threads share the work out (model.py, BertModel.forward); OpenBLAS's
        # threads on top of them would only contend. Process-wide: OpenBLAS has one setting.
        if not limit_blas_threads(1):
            log.warning("bert: numpy's BLAS is not OpenBLAS; leaving the threads to it (threads=1 here)")
            threads = 1
        path = Path(self.options.path) if self.options.path else None
        model = BertModel.load(path, max_tokens=self.options.max_tokens, threads=threads)
        if model.dimensions != self.options.dimensions:
            model.close()
            raise ValueError(
                f"{self.model_id}: the model makes {model.dimensions}-dimensional vectors, "
                f"but its options say dimensions={self.options.dimensions}"
            )
        self._model = model
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"bert {self.model_id}", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        with self._wake:
            self._closing = True
            left = [*self._urgent, *self._queued]
            self._urgent.clear()
            self._queued.clear()
            self._wake.notify()
        for job in left:
            _deliver(job, EngineError("engine_not_ready", "the engine stopped", transient=True))
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        if self._model is not None:
            self._model.close()
            self._model = None

    def state(self) -> str:
        if self._model is not None and self._thread is not None:
            return "ready"
        return "stopped" if self._closing else "loading"

    async def generate(
        self, request: ChatRequest, *, urgent: bool = False, on_text: TextSink | None = None
    ) -> ChatResult:
        raise EngineError("unsupported", f"{self.model_id} is an embedding model; use /v1/embeddings", transient=False)

    async def embed(self, request: EmbeddingRequest, *, urgent: bool = False) -> EmbeddingResult:
        if self._model is None or self._thread is None:
            raise EngineError("engine_not_ready", "the bert engine is not started", transient=True)
        self._check(request)
        loop = asyncio.get_running_loop()
        job = _Job(request, loop.create_future(), loop)
        with self._wake:
            (self._urgent if urgent else self._queued).append(job)
            self._wake.notify()
        try:
            return await job.future
        except asyncio.CancelledError:
            job.cancelled = True
            raise

    def _check(self, request: EmbeddingRequest) -> None:
        if len(request.inputs) > self.options.max_inputs:
            raise EngineError(
                "invalid_request",
                f"at most {self.options.max_inputs} inputs per request; got {len(request.inputs)}",
                transient=False,
            )
        if request.dimensions is not None and not 1 <= request.dimensions <= self.options.dimensions:
            raise EngineError(
                "invalid_request",
                f"dimensions must be between 1 and {self.options.dimensions}; got {request.dimensions}",
                transient=False,
            )

    # -- the model thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            jobs = self._next_jobs()
            if jobs is None:
                return
            try:
                results = self._embed(jobs)
            except Exception as exc:  # a bug or a memory error: the request fails, the engine goes on
                log.exception("bert: embedding failed")
                for job in jobs:
                    _deliver(job, EngineError("engine_error", f"embedding failed: {exc}", transient=False))
                continue
            for job, result in zip(jobs, results, strict=True):
                _deliver(job, result)

    def _next_jobs(self) -> list[_Job] | None:
        """The next request, and queued ones after it while they fit in one forward batch
        (urgent ones first); None when the engine stops."""
        with self._wake:
            while True:
                jobs: list[_Job] = []
                inputs = 0
                while queue := self._urgent or self._queued:
                    if jobs and inputs + len(queue[0].request.inputs) > self.options.batch_size:
                        break
                    job = queue.popleft()
                    if not job.cancelled:
                        jobs.append(job)
                        inputs += len(job.request.inputs)
                if jobs or self._closing:
                    return jobs or None
                self._wake.wait()

    def _embed(self, jobs: list[_Job]) -> list[EmbeddingResult]:
        assert self._model is not None
        texts = [text for job in jobs for text in job.request.inputs]
        embedded = self._model.embed(texts, batch_size=self.options.batch_size)
        results = []
        start = 0
        for job in jobs:
            end = start + len(job.request.inputs)
            vectors = shorten(embedded.vectors[start:end], job.request.dimensions)
            results.append(EmbeddingResult(vectors.tolist(), sum(embedded.tokens[start:end])))
            start = end
        return results


def shorten(vectors: Floats, dimensions: int | None) -> Floats:
    """Each vector cut to its first ``dimensions`` values, then scaled back to unit length (what
    OpenAI's ``dimensions`` does; it suits models trained for it, Matryoshka-style, and costs
    quality on others, such as all-MiniLM-L6-v2)."""
    if dimensions is None or dimensions >= vectors.shape[1]:
        return vectors
    cut = vectors[:, :dimensions]
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    return (cut / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def _deliver(job: _Job, outcome: EmbeddingResult | EngineError) -> None:
    try:
        job.loop.call_soon_threadsafe(_settle, job.future, outcome)
    except RuntimeError:  # the loop is closed: nobody waits for it any more
        pass


def _settle(future: asyncio.Future[EmbeddingResult], outcome: EmbeddingResult | EngineError) -> None:
    if future.done():
        return
    if isinstance(outcome, EngineError):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
