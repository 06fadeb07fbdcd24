"""The ``openai`` engine against real HTTP servers: a throttling OpenAI-compatible server in a
thread (tests/support/upstream.py), driven by the real worker and store; and its parts (the
adaptive limit, prefix routing, Retry-After) on their own."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import update

from sference_server.domain.outcome import ToolCall
from sference_server.engines.base import ChatRequest, ChatResult
from sference_server.engines.upstream.engine import UpstreamEngine
from sference_server.engines.upstream.limiter import AdaptiveLimit
from sference_server.engines.upstream.options import UpstreamOptions
from sference_server.engines.upstream.protocol import ToolCalls, retry_after
from sference_server.engines.upstream.routing import PrefixRing, prefix_key
from sference_server.store.database import Database
from sference_server.store.tables import items
from sference_server.worker.runner import Worker
from support.settings import echo_settings
from support.store import batch_row, item_rows, seed_batch
from support.upstream import ThrottlingUpstream

MakeUser = Callable[..., tuple[str, str]]
MODEL = "acme/scripted"


def run_batch(db: Database, tmp_path: Path, engine: UpstreamEngine, batch_id: str, timeout: float = 60) -> None:
    async def main() -> None:
        await engine.start()
        stop = asyncio.Event()
        worker = Worker(db, {MODEL: engine}, echo_settings(tmp_path, db.url, poll_seconds=0.05), worker_id="w")
        task = asyncio.create_task(worker.run(stop))
        deadline = asyncio.get_running_loop().time() + timeout
        while batch_row(db, batch_id).status not in ("completed", "failed"):
            assert asyncio.get_running_loop().time() < deadline, "the batch did not finish"
            await asyncio.sleep(0.05)
        stop.set()
        await task
        await engine.stop()

    asyncio.run(main())


def test_a_throttling_upstream_fails_no_row_and_the_limit_backs_off(
    db: Database, make_user: MakeUser, tmp_path: Path
) -> None:
    user, _ = make_user("ann")
    batch_id, _ = seed_batch(db, user, 60, model=MODEL, contents=[f"row {i}" for i in range(60)])
    with ThrottlingUpstream(throttle_every=4, max_concurrency=6, retry_after=0.1) as upstream:
        options = UpstreamOptions.parse({"base_urls": [upstream.base_url], "initial_concurrency": 16})
        engine = UpstreamEngine(MODEL, options)
        run_batch(db, tmp_path, engine, batch_id)
    rows = item_rows(db, batch_id)
    assert Counter(r.status for r in rows) == {"completed": 60}
    assert all(r.attempts == 1 for r in rows)  # throttling is retried inside the engine
    assert upstream.throttled >= 15
    assert engine.replicas[0].limit.value < 16


def test_an_upstream_400_fails_exactly_that_row_with_its_message(
    db: Database, make_user: MakeUser, tmp_path: Path
) -> None:
    user, _ = make_user("ann")
    batch_id, _ = seed_batch(db, user, 3, model=MODEL, contents=["fine", "bad [[upstream:400]]", "also fine"])
    with ThrottlingUpstream() as upstream:
        run_batch(
            db, tmp_path, UpstreamEngine(MODEL, UpstreamOptions.parse({"base_urls": [upstream.base_url]})), batch_id
        )
    good, bad, other = item_rows(db, batch_id)
    assert good.status == other.status == "completed" and bad.status == "failed" and bad.attempts == 1
    assert json.loads(bad.error) == {"code": "invalid_request", "message": "the scripted upstream refuses this prompt"}
    assert json.loads(good.result)["usage"]["cached_tokens"] == 4  # the upstream's usage, as reported


def test_the_request_is_forwarded_with_its_sampling_and_the_configured_extras(
    db: Database, make_user: MakeUser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_KEY", "sk-upstream-secret")
    user, _ = make_user("ann")
    batch_id, _ = seed_batch(db, user, 1, model=MODEL, contents=["hello"])
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "temperature": 0.3,
            "top_k": 5, "seed": 7, "max_tokens": 9, "stop": ["\n"], "response_format": {"type": "text"}}  # fmt: skip
    with db.write() as tx:  # a body with sampling fields and a field only the upstream knows
        tx.execute(update(items).values(body=json.dumps(body)))
    with ThrottlingUpstream() as upstream:
        options = {"base_urls": [upstream.base_url], "upstream_model": "served-name", "api_key_env": "ACME_KEY",
                   "extra_body": {"chat_template_kwargs": {"enable_thinking": False}}}  # fmt: skip
        run_batch(db, tmp_path, UpstreamEngine(MODEL, UpstreamOptions.parse(options)), batch_id)
    (sent,) = upstream.requests
    assert sent == {**body, "model": "served-name", "chat_template_kwargs": {"enable_thinking": False}}
    assert upstream.headers[0]["authorization"] == "Bearer sk-upstream-secret"


def test_tool_call_fragments_are_put_together_by_index() -> None:
    calls = ToolCalls()
    for fragment in [
        {"index": 0, "id": "call_a", "type": "function", "function": {"name": "weather", "arguments": ""}},
        {"index": 1, "id": "call_b", "type": "function", "function": {"name": "time"}},
        {"index": 0, "function": {"arguments": '{"city":'}},
        {"index": 1, "function": {"arguments": {"zone": "UTC"}}},  # some servers send an object
        {"index": 0, "function": {"arguments": '"Oslo"}'}},
        {"index": 2, "type": "function", "function": {"name": "anonymous", "arguments": "{}"}},
    ]:
        calls.add(fragment)
    first, second, third = calls.finished()
    assert first == ToolCall("call_a", "weather", '{"city":"Oslo"}')
    assert second == ToolCall("call_b", "time", '{"zone":"UTC"}')
    assert third.id.startswith("call_") and third.name == "anonymous"  # an id is made when none came


def test_options_are_checked_at_start() -> None:
    with pytest.raises(ValueError, match="base_urls"):
        UpstreamOptions.parse({})
    with pytest.raises(ValueError, match="not an http"):
        UpstreamOptions.parse({"base_urls": ["gpu-1:8000"]})
    with pytest.raises(ValueError, match="unknown openai options: base_url"):
        UpstreamOptions.parse({"base_url": "http://x/v1"})
    with pytest.raises(ValueError, match="NO_SUCH_VARIABLE"):
        UpstreamOptions.parse({"base_urls": "http://x/v1", "api_key_env": "NO_SUCH_VARIABLE"}).api_key()
    assert UpstreamOptions.parse({"base_urls": "http://x/v1/"}).base_urls == ("http://x/v1",)


def test_the_limit_grows_while_time_per_token_holds_and_backs_off_when_it_grows() -> None:
    limit = AdaptiveLimit(4, 64, tolerance=2.0)
    for _ in range(40):  # busy at the limit, flat time per token: slow start
        limit.on_answer(1.0, 100, in_flight=limit.value)
    assert limit.value >= 40
    grown = limit.value
    for _ in range(200):  # the upstream queues: time per token triples
        limit.on_answer(3.0, 100, in_flight=limit.value)
    assert limit.value < grown * 0.7
    idle = limit.value
    for _ in range(100):  # little traffic: no reason to grow
        limit.on_answer(1.0, 100, in_flight=0)
    assert limit.value == idle


def test_throttling_halves_the_limit_and_pauses_until_retry_after() -> None:
    limit = AdaptiveLimit(20, 64, tolerance=2.0)
    limit.on_throttled(2.5, now=100.0)
    assert limit.value == 10 and limit.paused_until == 102.5
    limit.on_throttled(None, now=100.5)  # within the same second: paused longer, not cut again
    assert limit.value == 10
    assert retry_after("3") == 3.0 and retry_after("soon") is None
    assert retry_after("Sun, 29 Nov 2026 12:00:10 GMT", now=1795953600.0) == 10.0


class _Load:
    def __init__(self) -> None:
        self.in_flight = 0


def test_a_shared_prefix_goes_to_one_replica_until_it_carries_more_than_its_share() -> None:
    ring = PrefixRing(["http://a/v1", "http://b/v1", "http://c/v1"])
    replicas = [_Load(), _Load(), _Load()]
    system = [{"role": "system", "content": "You grade essays."}]
    keys = [prefix_key([*system, {"role": "user", "content": f"essay {i}"}], 2048) for i in range(30)]
    assert len(set(keys)) == 1
    first = ring.choose(keys[0], replicas, [0, 1, 2])
    assert first is not None
    assert {ring.choose(k, replicas, [0, 1, 2]) for k in keys} == {first}  # idle: all to one
    chosen = []
    for key in keys:  # each stays in flight: the load bound spreads the rest
        index = ring.choose(key, replicas, [0, 1, 2])
        assert index is not None
        replicas[index].in_flight += 1
        chosen.append(index)
    counts = Counter(chosen)
    assert len(counts) == 3 and max(counts.values()) <= 1.25 * 30 / 3 + 1
    others = {ring.choose(f"other prompt {i}", [_Load()] * 3, [0, 1, 2]) for i in range(50)}
    assert others == {0, 1, 2}  # different prefixes spread over the ring
    assert ring.choose(keys[0], replicas, [2]) == 2  # only eligible replicas are chosen


def test_a_replica_that_does_not_list_the_model_is_reported_at_start(caplog: pytest.LogCaptureFixture) -> None:
    async def start_and_stop(upstream_model: str) -> None:
        engine = UpstreamEngine(MODEL, UpstreamOptions.parse({"base_urls": [upstream.base_url],
                                                              "upstream_model": upstream_model}))  # fmt: skip
        await engine.start()
        await engine.stop()

    with ThrottlingUpstream() as upstream:
        asyncio.run(start_and_stop("scripted"))
        assert "does not list the model" not in caplog.text
        asyncio.run(start_and_stop("scripted-typo"))
    assert "does not list the model 'scripted-typo' (it lists scripted); set upstream_model" in caplog.text


def test_batch_work_leaves_room_for_interactive_requests_while_they_arrive() -> None:
    async def capacities() -> tuple[int, int, int]:
        engine = UpstreamEngine(
            MODEL, UpstreamOptions.parse({"base_urls": [upstream.base_url], "initial_concurrency": 8})
        )
        await engine.start()
        alone = engine.capacity
        await engine.generate(ChatRequest([{"role": "user", "content": "hi"}]), urgent=True)
        beside = engine.capacity
        engine._interactive_at -= 61  # a minute without interactive requests
        later = engine.capacity
        await engine.stop()
        return alone, beside, later

    with ThrottlingUpstream() as upstream:
        # tolerance 2: half the limit kept free; a quarter more waits in the engine
        assert asyncio.run(capacities()) == (8 + 2, 4 + 1, 8 + 2)


def test_an_interactive_request_preempts_the_youngest_batch_requests_beyond_the_reserve() -> None:
    long = " ".join(f"w{i}" for i in range(40))  # 2 s at 50 ms a word

    async def scenario() -> tuple[int, float, list[ChatResult]]:
        options = UpstreamOptions.parse({"base_urls": [upstream.base_url], "initial_concurrency": 8})
        engine = UpstreamEngine(MODEL, options)
        await engine.start()
        batch = [asyncio.create_task(engine.generate(ChatRequest([{"role": "user", "content": f"{i} {long}"}])))
                 for i in range(8)]  # fmt: skip
        while upstream.in_flight < 8:
            await asyncio.sleep(0.01)
        started = asyncio.get_running_loop().time()
        await engine.generate(ChatRequest([{"role": "user", "content": "quick"}]), urgent=True)
        waited = asyncio.get_running_loop().time() - started
        running_batch = len(engine.replicas[0].batch_calls)
        results = await asyncio.gather(*batch)
        await engine.stop()
        return running_batch, waited, results

    with ThrottlingUpstream(seconds_per_word=0.05) as upstream:
        running_batch, waited, results = asyncio.run(scenario())
    assert running_batch == 4  # half the limit of 8 stays free beside interactive requests
    assert waited < 1.0  # it did not wait for the batch requests to finish
    assert all(r.text.startswith("echo:") for r in results)  # the preempted four ran again
    assert len(upstream.requests) == 8 + 1 + 4
