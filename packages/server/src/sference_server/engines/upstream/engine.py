"""``openai``: the engine in front of one or more OpenAI-compatible replicas of a model.

Each replica has its own adaptive limit (limiter.py); the engine's ``capacity`` is their sum and
a short backlog, so a worker claims no more than the replicas can take. A request goes to the replica its prompt
prefix hashes to (routing.py) when that one has room, and waits for room otherwise. Failures are
retried on any replica for ``retry_seconds``; consecutive failures take a replica out, and a
prober brings it back once ``GET {base_url}/models`` answers again. While interactive requests
arrive, batch work leaves part of each limit free for them, and one that arrives stops the
youngest batch requests beyond that part (they run again when there is room).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

import httpx

from ..base import ChatRequest, ChatResult, EngineError, TextRelay, TextSink
from . import protocol
from .limiter import AdaptiveLimit
from .options import UpstreamOptions
from .routing import PrefixRing, prefix_key

# Jitter from a generator of its own: the global ``random`` state is left to whoever else uses it
# (threads drawing from it concurrently make Hypothesis-driven tests of a live server flaky).
_jitter = random.Random()

log = logging.getLogger("sference.engine.upstream")

INTERACTIVE_SECONDS = 60.0  # how long after an interactive request batch work keeps room free
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 10.0


@dataclass
class Replica:
    base_url: str
    limit: AdaptiveLimit
    in_flight: int = 0
    up: bool = True
    failures: int = 0  # in a row
    out_since: float | None = None
    last_error: str = ""
    answered: int = 0
    batch_calls: dict[asyncio.Future[ChatResult], float] = field(default_factory=dict)  # -> started

    def allowed(self, *, urgent: bool, reserve: float) -> int:
        """Requests it may have in flight: batch work leaves the ``reserve`` share of the limit
        free (for interactive requests, while they arrive)."""
        limit = self.limit.value
        if reserve and not urgent:
            limit = int(limit * (1.0 - reserve))
        return max(1, limit)

    def room(self, *, urgent: bool, reserve: float, now: float) -> bool:
        if not self.up or self.limit.paused_until > now:
            return False
        return self.in_flight < self.allowed(urgent=urgent, reserve=reserve)


class UpstreamEngine:
    def __init__(self, model_id: str, options: UpstreamOptions) -> None:
        self.model_id = model_id
        self.options = options
        self.upstream_model = options.upstream_model or model_id
        self.replicas = [
            Replica(url, AdaptiveLimit(options.initial_concurrency, options.max_concurrency, options.latency_tolerance))
            for url in options.base_urls
        ]
        self._ring = PrefixRing(options.base_urls)
        self._changed = asyncio.Event()  # a request finished or a replica came back: look again
        self._client: httpx.AsyncClient | None = None
        self._prober: asyncio.Task[None] | None = None
        self._interactive_at = float("-inf")

    # -- the Engine protocol ----------------------------------------------------------------

    @property
    def capacity(self) -> int:
        """What the replicas may have in flight, plus a quarter waiting in the engine: the worker
        claims more only when a quarter of its capacity is free, and a finished call should find
        the next request here, not wait for that claim."""
        reserve = self._reserving(time.monotonic())
        allowed = sum(r.allowed(urgent=False, reserve=reserve) for r in self.replicas if r.up)
        return allowed + (allowed + 3) // 4

    def _reserving(self, now: float) -> float:
        """The share of each limit kept free for interactive requests now (0: none arrived lately)."""
        return self.options.reserve_share if now - self._interactive_at < INTERACTIVE_SECONDS else 0.0

    async def start(self) -> None:
        headers = {"User-Agent": "sference"}
        key = self.options.api_key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        timeout = httpx.Timeout(self.options.request_timeout, connect=self.options.connect_timeout)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        self._client = httpx.AsyncClient(headers=headers, timeout=timeout, limits=limits)
        await asyncio.gather(*(self._probe(replica) for replica in self.replicas))
        for replica in self.replicas:
            if not replica.up:
                log.warning("%s: replica %s is out at start: %s", self.model_id, replica.base_url, replica.last_error)
        self._prober = asyncio.create_task(self._probe_loop(), name=f"probe-{self.model_id}")

    async def stop(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            await asyncio.gather(self._prober, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    def state(self) -> str:
        """``ready``, or why not: every replica out for longer than ``unready_after_seconds``."""
        up = [r for r in self.replicas if r.up]
        if up:
            return "ready"
        since = min(r.out_since or 0.0 for r in self.replicas)
        if time.monotonic() - since < self.options.unready_after_seconds:
            return "ready"
        reasons = "; ".join(f"{r.base_url}: {r.last_error}" for r in self.replicas)
        return f"unavailable: every replica is out ({reasons})"

    def replicas_report(self) -> list[dict[str, object]]:
        """Each replica: whether it takes requests, its adaptive limit, requests in flight."""
        return [
            {"base_url": r.base_url, "up": r.up, "limit": r.limit.value, "in_flight": r.in_flight,
             **({"last_error": r.last_error} if r.last_error else {})}
            for r in self.replicas
        ]  # fmt: skip

    async def generate(
        self, request: ChatRequest, *, urgent: bool = False, on_text: TextSink | None = None
    ) -> ChatResult:
        if self._client is None:
            raise EngineError("engine_not_ready", "the upstream engine is not started", transient=True)
        if urgent:
            self._interactive_at = time.monotonic()
        body = protocol.request_body(request, self.upstream_model, self.options.extra_body, stream=on_text is not None)
        key = prefix_key(request.messages, self.options.prefix_chars)
        give_up = time.monotonic() + self.options.retry_seconds
        delay = BACKOFF_FIRST
        relay = TextRelay(on_text) if on_text is not None else None
        if urgent:
            self._make_room()
        while True:
            replica = await self._acquire(key, urgent=urgent)
            outcome = await self._attempt(replica, body, relay, urgent=urgent)
            if isinstance(outcome, ChatResult):
                return outcome
            if outcome is None:  # preempted by an interactive request: run again when there is room
                continue
            if time.monotonic() >= give_up:
                raise EngineError("engine_error", str(outcome), transient=True)
            await asyncio.sleep(delay * _jitter.uniform(0.5, 1.0))
            delay = min(BACKOFF_MAX, delay * 2)

    async def _attempt(
        self, replica: Replica, body: dict[str, object], relay: TextRelay | None, *, urgent: bool
    ) -> ChatResult | Exception | None:
        """One try on ``replica``: the result, the transient error to retry after, or ``None``
        when an interactive request took its place. A rejected request raises."""
        started = time.monotonic()
        url = f"{replica.base_url}/chat/completions"
        assert self._client is not None
        if relay is None:
            call = asyncio.ensure_future(protocol.complete(self._client, url, body))
        else:
            relay.restart()
            call = asyncio.ensure_future(protocol.stream(self._client, url, body, relay))
        if not urgent:
            replica.batch_calls[call] = started
        try:
            result = await call
        except protocol.Rejected as exc:
            self._answered(replica, time.monotonic() - started, 0)
            raise EngineError(exc.code, exc.message, transient=False) from exc
        except protocol.Throttled as exc:
            replica.limit.on_throttled(exc.retry_after, now=time.monotonic())
            return exc
        except protocol.Unavailable as exc:
            self._failed(replica, str(exc))
            return exc
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # we were cancelled, not preempted
                raise
            return None
        finally:
            replica.batch_calls.pop(call, None)
            replica.in_flight -= 1
            self._changed.set()
        self._answered(replica, time.monotonic() - started, result.completion_tokens)
        return result

    def _make_room(self) -> None:
        """An interactive request arrived: stop the youngest batch requests of each replica that
        exceed what batch work may have there now, so it does not wait behind them (they run
        again later, as the embedded engine's preempted sequences do)."""
        for replica in self.replicas:
            allowed = replica.allowed(urgent=False, reserve=self.options.reserve_share)
            excess = len(replica.batch_calls) - allowed
            if excess > 0:
                youngest = sorted(replica.batch_calls, key=replica.batch_calls.__getitem__, reverse=True)
                for call in youngest[:excess]:
                    call.cancel()

    # -- replicas ---------------------------------------------------------------------------

    async def _acquire(self, key: str | None, *, urgent: bool) -> Replica:
        while True:
            now = time.monotonic()
            reserve = self._reserving(now)
            eligible = [i for i, r in enumerate(self.replicas) if r.room(urgent=urgent, reserve=reserve, now=now)]
            chosen = self._ring.choose(key, self.replicas, eligible)
            if chosen is not None:
                replica = self.replicas[chosen]
                replica.in_flight += 1
                return replica
            self._changed.clear()
            try:  # wake on a release, or when a pause ends
                await asyncio.wait_for(self._changed.wait(), timeout=self._next_pause_end(now))
            except TimeoutError:
                pass

    def _next_pause_end(self, now: float) -> float:
        pauses = [r.limit.paused_until - now for r in self.replicas if r.up and r.limit.paused_until > now]
        return max(0.01, min(pauses, default=1.0))

    def _answered(self, replica: Replica, seconds: float, tokens: int) -> None:
        replica.failures = 0
        replica.answered += 1
        if tokens:
            replica.limit.on_answer(seconds, tokens, in_flight=replica.in_flight - 1)

    def _failed(self, replica: Replica, message: str) -> None:
        replica.failures += 1
        replica.last_error = message
        replica.limit.on_failure(now=time.monotonic())
        connection_refused = "ConnectError" in message
        if replica.up and (connection_refused or replica.failures >= self.options.failures_to_eject):
            self._take_out(replica)

    def _take_out(self, replica: Replica) -> None:
        replica.up = False
        replica.out_since = time.monotonic()
        log.warning("%s: replica %s taken out: %s", self.model_id, replica.base_url, replica.last_error)

    def _check_model_listed(self, replica: Replica, response: httpx.Response) -> None:
        """Warn when a replica does not list the model we will ask it for (a typo in
        ``upstream_model`` would otherwise fail every request with the upstream's 404)."""
        try:
            listed = [str(model["id"]) for model in response.json()["data"]]
        except (ValueError, KeyError, TypeError):
            return
        if listed and self.upstream_model not in listed:
            log.warning(
                "%s: replica %s does not list the model %r (it lists %s); set upstream_model",
                self.model_id, replica.base_url, self.upstream_model, ", ".join(listed[:5]),
            )  # fmt: skip

    async def _probe_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.probe_seconds)
            out = [replica for replica in self.replicas if not replica.up]
            if out:
                await asyncio.gather(*(self._probe(replica) for replica in out))

    async def _probe(self, replica: Replica) -> None:
        assert self._client is not None
        try:
            response = await self._client.get(f"{replica.base_url}/models", timeout=self.options.connect_timeout)
            healthy = response.status_code < 400
            problem = f"GET /models answered {response.status_code}"
        except httpx.TransportError as exc:
            healthy, problem = False, f"{type(exc).__name__} {exc}".strip()
        if healthy and not replica.answered:
            self._check_model_listed(replica, response)
        if healthy and not replica.up:
            replica.up, replica.failures, replica.out_since = True, 0, None
            replica.limit.reset()
            log.info("%s: replica %s is back", self.model_id, replica.base_url)
            self._changed.set()
        elif not healthy:
            replica.last_error = problem
            if replica.up:
                self._take_out(replica)
