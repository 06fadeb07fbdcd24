"""``llamacpp``: the embedded engine behind the Engine protocol."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ..base import ChatRequest, ChatResult, EngineError, TextRelay, TextSink
from ..options import cpu_count
from .decoder import BatchDecoder, Job
from .model import LlamaModel, init_backend
from .options import LlamaCppOptions
from .repack import model_file
from .sampling import SamplingDefaults, build_chain, is_greedy


class LlamaCppEngine:
    def __init__(
        self, model_id: str, options: LlamaCppOptions, *, cache_dir: Path | None = None, llama_log: bool = False
    ) -> None:
        """``llama_log``: let llama.cpp write its own log to stderr (``Settings.llama_log``)."""
        self.model_id = model_id
        self.options = options
        self.cache_dir = cache_dir
        self.llama_log = llama_log
        self.defaults = SamplingDefaults(options.temperature, options.top_p)
        self._model: LlamaModel | None = None
        self._decoder: BatchDecoder | None = None

    @property
    def capacity(self) -> int:
        backlog = self.options.slots if self.options.backlog is None else self.options.backlog
        return self.options.slots + backlog

    @property
    def ready(self) -> bool:
        return self._decoder is not None

    async def start(self) -> None:
        await asyncio.to_thread(self._load)

    def _load(self) -> None:
        init_backend(log=self.llama_log)  # first, so that re-encoding the weights logs (or not) too
        threads = self.options.threads or cpu_count()
        path = model_file(self.options, self.cache_dir, threads=threads)
        self._model = LlamaModel(path)
        self._decoder = BatchDecoder(
            self._model,
            slots=self.options.slots,
            ctx_per_slot=self.options.ctx_per_slot,
            threads=threads,
            batch_tokens=self.options.batch_tokens,
        )
        self._decoder.start()

    async def stop(self) -> None:
        if self._decoder is not None:
            await asyncio.to_thread(self._decoder.close)
            self._decoder = None
        if self._model is not None:
            self._model.close()
            self._model = None

    def state(self) -> str:
        return "ready" if self.ready else "loading"

    async def generate(
        self, request: ChatRequest, *, urgent: bool = False, on_text: TextSink | None = None
    ) -> ChatResult:
        if self._model is None or self._decoder is None:
            raise EngineError("engine_not_ready", "the llama.cpp engine is not started", transient=True)
        job = self._job(request)
        job.on_text = TextRelay(on_text) if on_text is not None else None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ChatResult] = loop.create_future()

        def deliver(outcome: ChatResult | EngineError) -> None:
            loop.call_soon_threadsafe(_settle, future, outcome)

        job.on_done = deliver
        self._decoder.submit(job, urgent=urgent)
        try:
            return await future
        except asyncio.CancelledError:
            self._decoder.cancel(job)
            raise

    def _job(self, request: ChatRequest) -> Job:
        assert self._model is not None
        try:
            prompt = self._model.tokenize(self._model.render_chat(request.messages))
        except Exception as exc:  # a template that rejects the conversation
            raise EngineError(
                "invalid_request", f"the chat template rejected the messages: {exc}", transient=False
            ) from exc
        limit = self.options.ctx_per_slot
        room = limit - len(prompt)
        # Without a request limit: the model's default length, or whatever room the prompt leaves.
        default = min(self.options.max_tokens or room, room)
        wanted = request.max_tokens if request.max_tokens is not None else default
        if wanted < 1 or len(prompt) + wanted > limit:
            raise EngineError(
                "context_length_exceeded",
                f"this model's context is {limit} tokens per request, but the request needs "
                f"{len(prompt) + max(wanted, 1)} ({len(prompt)} in the messages, {max(wanted, 1)} to generate)",
                transient=False,
            )
        sampler = (
            None if is_greedy(request, self.defaults) else build_chain(request, self.defaults, self._model.n_vocab)
        )
        return Job(
            prompt=prompt, max_new_tokens=wanted, stop=list(request.stop), sampler=sampler, on_done=lambda _: None
        )


def _settle(future: asyncio.Future[ChatResult], outcome: ChatResult | EngineError) -> None:
    if future.done():
        return
    if isinstance(outcome, EngineError):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
