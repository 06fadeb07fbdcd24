"""Continuous batching on one llama.cpp context.

A decode thread owns the context. Each sequence slot (a llama.cpp ``seq_id`` with its own KV
cache) runs one request at a time. Every step makes one ``llama_decode`` call that carries the
next token of every running sequence plus as much pending prompt as the batch budget allows, so
a new request joins as soon as a slot frees instead of waiting for the whole group. A request
goes to the free slot whose cached tokens share the longest prefix with its prompt; the shared
part (the chat template's system prompt, a common instruction) stays in the cache and only the
rest is computed.

Urgent jobs (a client waits on the connection) go to the head of the queue, take the slot of the
youngest other job when every slot is busy (that job starts over later, mostly from cached
prompt), and while any of them runs the other sequences pause, so an urgent answer comes about as
fast as on an idle engine. For a while after an urgent job arrives, queued work leaves one slot
(of four or more)
free (the one the last urgent job used, its prompt still cached) and each step decodes at most
half of the sequences, in turn: the next urgent job then takes no one's slot, finds its prompt's
prefix cached, and waits for a short step rather than a full one.
"""

from __future__ import annotations

import codecs
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..base import ChatResult, EngineError, TextRelay
from .model import LlamaModel, common_prefix
from .native import llama

log = logging.getLogger("sference.engine.llamacpp")

FLASH_ATTN_ENABLED = 1
URGENT_WINDOW = 10.0  # seconds after an urgent job arrives during which steps stay short


@dataclass
class Job:
    """One request inside the decoder. ``on_done`` gets a ChatResult or an EngineError, from the
    decode thread."""

    prompt: list[int]
    max_new_tokens: int
    stop: list[str]
    sampler: int | None  # a llama.cpp sampler chain, or None for greedy
    on_done: Callable[[ChatResult | EngineError], None]
    cancelled: bool = False
    urgent: bool = False
    on_text: TextRelay | None = None  # the text as it is made (a streaming client)
    # Decoder state.
    pending: list[int] = field(default_factory=list)  # prompt tokens not yet in the KV cache
    cached: int = 0
    generated: int = 0
    text: bytearray = field(default_factory=bytearray)
    next_token: int | None = None  # sampled, not yet fed back
    # Streaming: whole characters not yet sent (held back while they may start a stop sequence).
    unsent: str = ""
    utf8: codecs.IncrementalDecoder = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))


@dataclass
class _Slot:
    seq_id: int
    kv: list[int] = field(default_factory=list)  # tokens in this sequence's KV cache
    job: Job | None = None


class BatchDecoder:
    def __init__(self, model: LlamaModel, *, slots: int, ctx_per_slot: int, threads: int, batch_tokens: int) -> None:
        self.model = model
        self.ctx_per_slot = ctx_per_slot
        self.batch_tokens = max(batch_tokens, slots)
        params = llama.llama_context_default_params()
        params.n_ctx = slots * ctx_per_slot
        params.n_batch = self.batch_tokens
        params.n_ubatch = min(512, self.batch_tokens)
        params.n_seq_max = slots
        params.n_threads = params.n_threads_batch = threads
        params.flash_attn_type = FLASH_ATTN_ENABLED
        params.kv_unified = False
        params.no_perf = True
        self.ctx = llama.llama_init_from_model(model.ptr, params)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create a context (out of memory?)")
        self.memory = llama.llama_get_memory(self.ctx)
        self.batch = llama.llama_batch_init(self.batch_tokens, 0, 1)
        self._tokens = np.ctypeslib.as_array(self.batch.token, shape=(self.batch_tokens,))
        self._positions = np.ctypeslib.as_array(self.batch.pos, shape=(self.batch_tokens,))
        self._n_seq = np.ctypeslib.as_array(self.batch.n_seq_id, shape=(self.batch_tokens,))
        self._logits_flags = np.ctypeslib.as_array(self.batch.logits, shape=(self.batch_tokens,))
        self._seq_ids = [self.batch.seq_id[i] for i in range(self.batch_tokens)]
        self._n_seq[:] = 1
        self.slots = [_Slot(i) for i in range(slots)]
        self._urgent_at = float("-inf")  # when the last urgent job arrived (monotonic)
        self._urgent_slot: _Slot | None = None  # the slot the last urgent job ran in
        self._turn = 0  # where the next short step starts among the running sequences
        self._short_step = max(4, slots // 2)
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="llamacpp-decoder", daemon=True)

    # -- control (any thread) -------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job, *, urgent: bool = False) -> None:
        """Queue a job; an urgent one goes ahead of the others (and may take a running one's slot)."""
        job.urgent = urgent
        with self._cond:
            if urgent:
                self._urgent_at = time.monotonic()
                position = sum(1 for queued in self._queue if queued.urgent)
                self._queue.insert(position, job)
            else:
                self._queue.append(job)
            self._cond.notify()

    def cancel(self, job: Job) -> None:
        job.cancelled = True
        with self._cond:
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join()
        for job in self._queue:
            self._finish_error(job, EngineError("engine_stopped", "the engine stopped", transient=True))
        for slot in self.slots:
            if slot.job is not None:
                self._finish_error(slot.job, EngineError("engine_stopped", "the engine stopped", transient=True))
        llama.llama_batch_free(self.batch)
        llama.llama_free(self.ctx)

    # -- decode thread --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not self._queue and not self._busy():
                    self._cond.wait()
                if self._stopping:
                    return
            try:
                self._admit()
                self._step()
            except Exception as exc:  # keep the thread alive; fail what was running
                log.exception("decode step failed")
                self._fail_running(EngineError("engine_error", f"decode failed: {exc}", transient=True))

    def _busy(self) -> bool:
        return any(slot.job is not None for slot in self.slots)

    def _admit(self) -> None:
        for slot in self.slots:
            if slot.job is not None and slot.job.cancelled:
                self._release(slot)
        free = [slot for slot in self.slots if slot.job is None]
        keep_one = len(self.slots) >= 4 and self._urgent_recent()  # a slot stays free for the next urgent job
        while True:
            with self._cond:
                if not self._queue or not (free or self._queue[0].urgent):
                    return
                if keep_one and not self._queue[0].urgent and len(free) <= 1:
                    return
                job = self._queue.popleft()
            if job.cancelled:
                continue
            if not free:  # an urgent job and every slot busy: take the youngest queued job's slot
                victim = self._youngest_preemptible()
                if victim is None:
                    with self._cond:
                        self._queue.appendleft(job)
                    return
                free.append(victim)
            candidates = free
            if keep_one and not job.urgent and self._urgent_slot in free:
                candidates = [slot for slot in free if slot is not self._urgent_slot]
            slot = max(candidates, key=lambda s: common_prefix(s.kv, job.prompt))
            free.remove(slot)
            if job.urgent:
                self._urgent_slot = slot
            keep = min(common_prefix(slot.kv, job.prompt), len(job.prompt) - 1)
            llama.llama_memory_seq_rm(self.memory, slot.seq_id, keep, -1)
            del slot.kv[keep:]
            job.cached = keep
            job.pending = job.prompt[keep:]
            slot.job = job

    def _urgent_recent(self) -> bool:
        return time.monotonic() - self._urgent_at < URGENT_WINDOW

    def _youngest_preemptible(self) -> _Slot | None:
        """Stop the non-urgent job that has generated least, put it back at the head of the
        queue (it starts over, mostly from cached prompt), and return its slot."""
        running = [slot for slot in self.slots if slot.job is not None and not slot.job.urgent]
        if not running:
            return None
        slot = min(running, key=lambda s: s.job.generated if s.job else 0)
        victim = slot.job
        assert victim is not None
        slot.job = None
        victim.generated, victim.next_token, victim.pending = 0, None, []
        victim.text.clear()
        victim.utf8.reset()
        if victim.on_text is not None:  # what was sent stays sent: the new run skips it
            victim.unsent = ""
            victim.on_text.restart()
        if victim.sampler is not None:
            llama.llama_sampler_reset(victim.sampler)
        with self._cond:
            position = sum(1 for queued in self._queue if queued.urgent)
            self._queue.insert(position, victim)
        return slot

    def _step(self) -> None:
        # While an urgent job runs, the others wait (keeping their place and cache): a step then
        # costs what one short sequence costs, not what a full batch of them does.
        active = [slot for slot in self.slots if slot.job is not None]
        if any(slot.job is not None and slot.job.urgent for slot in active):
            active = [slot for slot in active if slot.job is not None and slot.job.urgent]
        elif len(active) > self._short_step and self._urgent_recent():
            start = self._turn % len(active)
            active = (active[start:] + active[:start])[: self._short_step]
            self._turn += self._short_step
        n = 0
        outputs: list[tuple[_Slot, int]] = []  # (slot, batch index) of rows with logits
        for slot in active:  # running sequences: one token each
            job = slot.job
            if job is None or job.next_token is None:
                continue
            n = self._put(n, slot, job.next_token, logits=True)
            outputs.append((slot, n - 1))
            job.next_token = None
        for slot in active:  # then prompt prefill, within the batch budget
            job = slot.job
            if job is None or not job.pending or n >= self.batch_tokens:
                continue
            take = job.pending[: self.batch_tokens - n]
            del job.pending[: len(take)]
            for i, token in enumerate(take):
                last = not job.pending and i == len(take) - 1
                n = self._put(n, slot, token, logits=last)
            if not job.pending:
                outputs.append((slot, n - 1))
        if n == 0:
            return
        self.batch.n_tokens = n
        status = llama.llama_decode(self.ctx, self.batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")
        self._sample(outputs)

    def _put(self, n: int, slot: _Slot, token: int, *, logits: bool) -> int:
        self._tokens[n] = token
        self._positions[n] = len(slot.kv)
        self._seq_ids[n][0] = slot.seq_id
        self._logits_flags[n] = logits
        slot.kv.append(token)
        return n + 1

    def _sample(self, outputs: list[tuple[_Slot, int]]) -> None:
        greedy_rows = [row for row, (slot, _) in enumerate(outputs) if slot.job and slot.job.sampler is None]
        chosen: dict[int, int] = {}
        if greedy_rows:
            logits = np.ctypeslib.as_array(llama.llama_get_logits(self.ctx), shape=(len(outputs), self.model.n_vocab))
            picks = logits[greedy_rows].argmax(axis=1)
            chosen = dict(zip(greedy_rows, picks.tolist(), strict=True))
        for row, (slot, index) in enumerate(outputs):
            job = slot.job
            if job is None:
                continue
            token = chosen[row] if job.sampler is None else llama.llama_sampler_sample(job.sampler, self.ctx, index)
            self._advance(slot, job, token)

    def _advance(self, slot: _Slot, job: Job, token: int) -> None:
        job.generated += 1
        if self.model.is_end_of_generation(token):
            return self._finish(slot, "stop")
        piece = self.model.piece(token)
        job.text += piece
        if job.stop and _stop_seen(job):
            return self._finish(slot, "stop")
        if job.generated >= job.max_new_tokens or len(slot.kv) + 1 >= self.ctx_per_slot:
            return self._finish(slot, "length")
        if job.on_text is not None:
            _send_text(job, piece)
        job.next_token = token
        return None

    def _finish(self, slot: _Slot, reason: str) -> None:
        job = slot.job
        assert job is not None
        text = job.text.decode("utf-8", errors="replace")
        if job.stop:
            cut = min((i for i in (text.find(s) for s in job.stop) if i >= 0), default=-1)
            if cut >= 0:
                text, reason = text[:cut], "stop"
        result = ChatResult(text, reason, len(job.prompt), job.generated, job.cached)
        self._release(slot)
        job.on_done(result)

    def _release(self, slot: _Slot) -> None:
        job = slot.job
        slot.job = None
        if job is not None and job.sampler is not None:
            llama.llama_sampler_free(job.sampler)
            job.sampler = None

    def _fail_running(self, error: EngineError) -> None:
        for slot in self.slots:
            job = slot.job
            if job is None:
                continue
            llama.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
            slot.kv.clear()
            self._release(slot)
            self._finish_error(job, error)

    @staticmethod
    def _finish_error(job: Job, error: EngineError) -> None:
        if not job.cancelled:
            job.on_done(error)


def _send_text(job: Job, piece: bytes) -> None:
    """Send the job's new whole characters, except the last ones that may begin a stop sequence."""
    assert job.on_text is not None
    job.unsent += job.utf8.decode(piece)
    hold = max((len(s) for s in job.stop), default=1) - 1
    ready = job.unsent[: len(job.unsent) - hold] if hold else job.unsent
    job.unsent = job.unsent[len(ready) :]
    if ready:
        job.on_text(ready)


def _stop_seen(job: Job) -> bool:
    window = max(len(s) for s in job.stop) * 4 + 8
    tail = bytes(job.text[-window:]).decode("utf-8", errors="ignore")
    return any(s in tail for s in job.stop)
