"""Per-user limits over HTTP: requests per minute, interactive requests at once, items queued.

The server here runs no worker, so whatever is submitted stays queued and an interactive request
stays in flight until its client goes or it times out: the counts are exact.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from sqlalchemy import func, select
from typer.testing import CliRunner

from sference_server import cli
from sference_server.domain.quotas import UserLimits
from sference_server.services import ApiServices
from sference_server.store.database import Database
from sference_server.store.tables import batches, items
from support.batches import chat_row, document
from support.console import csrf_of, sign_in
from support.live import ThreadServer
from support.settings import ECHO_MODEL, echo_settings

from .conftest import PASSWORD, Api

SLOW = {"models": [{"id": ECHO_MODEL, "engine": "echo", "options": {"slots": 1, "token_delay": 0.02}}]}
CHAT = {"model": ECHO_MODEL, "messages": [{"role": "user", "content": "hi"}]}


class Idle:
    """A live server without a worker, and its users."""

    def __init__(self, server: ThreadServer, make_user: Callable[..., tuple[str, str]]) -> None:
        self.url = server.url
        self.services: ApiServices = server.services
        self._make_user = make_user

    def user(self, name: str, **limits: int | None) -> tuple[str, httpx.Client]:
        user_id, key = self._make_user(name)
        if limits:
            self.services.quotas.set(user_id, limits)
        return user_id, httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def in_flight(self, user_id: str) -> int:
        return self.services.quotas.in_flight.count(user_id)


@pytest.fixture
def idle(tmp_path: Path, database_url: str, db: Database, make_user: Callable[..., tuple[str, str]]) -> Iterator[Idle]:
    services = ApiServices.build(echo_settings(tmp_path, database_url, interactive_timeout_seconds=1.5), db)
    with ThreadServer(services, run_worker=False) as server:
        yield Idle(server, make_user)


def assert_limited(response: httpx.Response, limit: str) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) >= 1
    extra: dict[str, Any] = response.json()["extra"]
    assert extra["limit"] == limit and limit in response.json()["detail"]
    return extra


def stored(db: Database, user_id: str) -> tuple[int, int]:
    """(batches, items) of the user."""
    with db.read() as conn:
        n_batches = conn.execute(select(func.count()).select_from(batches).where(batches.c.user_id == user_id))
        n_items = conn.execute(select(func.count()).select_from(items).where(items.c.user_id == user_id))
        return int(n_batches.scalar_one()), int(n_items.scalar_one())


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_requests_per_minute(idle: Idle, db: Database) -> None:
    ann_id, ann = idle.user("ann", requests_per_minute=3)
    _, bob = idle.user("bob")
    assert [ann.get("/v1/batches").status_code for _ in range(3)] == [200, 200, 200]
    refused = ann.post("/v1/batches", json=document([chat_row("a", "x")]))
    extra = assert_limited(refused, "requests_per_minute")
    assert extra["max"] == 3 and int(refused.headers["retry-after"]) <= 20
    assert stored(db, ann_id) == (0, 0)
    # Under /openai/ the error has OpenAI's shape, its code naming the limit.
    openai = ann.get("/openai/v1/models")
    assert openai.status_code == 429 and openai.json()["error"]["code"] == "requests_per_minute"
    assert openai.json()["error"]["type"] == "rate_limit_error" and openai.headers["retry-after"]
    # Other users are not affected; unauthenticated requests are not counted against anyone.
    assert all(bob.get("/v1/batches").status_code == 200 for _ in range(5))
    assert httpx.get(f"{idle.url}/v1/health/ready").status_code == 200


def test_concurrent_interactive_requests(idle: Idle, db: Database) -> None:
    ann_id, ann = idle.user("ann", max_concurrent_interactive=1)
    _, bob = idle.user("bob")
    first: list[int] = []
    waiting = threading.Thread(target=lambda: first.append(ann.post("/v1/chat/completions", json=CHAT).status_code))
    waiting.start()
    wait_for(lambda: idle.in_flight(ann_id) == 1 and stored(db, ann_id) == (0, 1))  # counted, then queued
    before = stored(db, ann_id)
    for path, body in (
        ("/v1/chat/completions", CHAT),
        ("/v1/chat/completions", {**CHAT, "stream": True}),
        ("/openai/v1/responses", {"model": ECHO_MODEL, "input": "hi"}),
        ("/v1/messages", {"model": ECHO_MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
    ):
        refused = ann.post(path, json=body)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1", (path, refused.text)
    assert_limited(ann.post("/v1/chat/completions", json=CHAT), "max_concurrent_interactive")
    assert stored(db, ann_id) == before  # nothing of the refused requests was queued
    # A background response is queued work, not an interactive request.
    assert ann.post("/openai/v1/responses", json={"model": ECHO_MODEL, "input": "x", "background": True}).is_success
    # Bob has his own turns (his request waits for a worker too, then times out).
    assert bob.post("/v1/chat/completions", json=CHAT).status_code == 504
    waiting.join()
    assert first == [504]  # no worker: it timed out, and its turn ended
    assert idle.in_flight(ann_id) == 0


@pytest.mark.parametrize("server_overrides", [SLOW])
def test_a_streamed_answer_holds_its_turn_until_it_ends(api: Api) -> None:
    ann_id, key = api._make_user("ann")
    api.services.quotas.set(ann_id, {"max_concurrent_interactive": 1})
    ann = api.client(key)
    long_chat = {**CHAT, "messages": [{"role": "user", "content": "word " * 500}], "stream": True, "max_tokens": 600}
    with ann.stream("POST", "/v1/chat/completions", json=long_chat) as streamed:
        assert streamed.status_code == 200
        lines = streamed.iter_lines()
        assert next(lines).startswith("data: ")
        assert api.services.quotas.in_flight.count(ann_id) == 1
        assert_limited(ann.post("/v1/chat/completions", json=CHAT), "max_concurrent_interactive")
    wait_for(lambda: api.services.quotas.in_flight.count(ann_id) == 0)
    assert ann.post("/v1/chat/completions", json=CHAT).status_code == 200


def test_queued_items(idle: Idle, db: Database) -> None:
    ann_id, ann = idle.user("ann", max_queued_items=3)
    _, bob = idle.user("bob", max_queued_items=1)
    # A batch over the limit is refused whole.
    four = document([chat_row(f"r{i}", "x") for i in range(4)])
    extra = assert_limited(ann.post("/v1/batches", json=four), "max_queued_items")
    assert extra == {"limit": "max_queued_items", "max": 3, "queued": 0, "adding": 4}
    assert stored(db, ann_id) == (0, 0)
    assert ann.post("/v1/batches", json=document([chat_row(f"r{i}", "x") for i in range(2)])).status_code == 201
    assert ann.post("/v1/responses", json={"model": ECHO_MODEL, "input": "x", "background": True}).is_success
    assert stored(db, ann_id) == (1, 3)
    # Full: background responses, stream items, batches and OpenAI batches are all refused.
    stream = ann.post("/v1/streams", json={"name": "s"}).json()
    refused = ann.post(
        "/v1/responses", json={"model": ECHO_MODEL, "input": "x", "metadata": {"stream_id": stream["id"]}}
    )
    assert "3 items queued or running" in refused.json()["detail"]
    assert assert_limited(refused, "max_queued_items")["queued"] == 3
    assert_limited(
        ann.post("/v1/responses", json={"model": ECHO_MODEL, "input": "x", "background": True}), "max_queued_items"
    )
    assert_limited(ann.post("/v1/batches", json=document([chat_row("z", "x")])), "max_queued_items")
    line = json.dumps({"custom_id": "o", "method": "POST", "url": "/v1/chat/completions", "body": CHAT})
    upload = ann.post(
        "/openai/v1/files", files={"file": ("b.jsonl", io.BytesIO(line.encode()))}, data={"purpose": "batch"}
    )
    spec = {"input_file_id": upload.json()["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    refused = ann.post("/openai/v1/batches", json=spec)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "max_queued_items"
    assert stored(db, ann_id) == (1, 3)
    assert ann.get("/openai/v1/batches").json()["data"] == []
    # Interactive requests are not queued work.
    assert ann.post("/v1/chat/completions", json=CHAT).status_code == 504
    # Cancelling frees room; other users count their own items.
    batch_id = ann.get("/v1/batches").json()["items"][0]["id"]
    assert ann.post(f"/v1/batches/{batch_id}/cancel").is_success
    assert ann.post("/openai/v1/batches", json=spec).is_success
    assert bob.post("/v1/batches", json=document([chat_row("b", "x")])).status_code == 201


def test_queued_items_of_submissions_at_once(idle: Idle, db: Database) -> None:
    """Submissions that arrive together are written in shared transactions (group commit) and
    still counted one by one: exactly the room left is taken."""
    ann_id, ann = idle.user("ann", max_queued_items=5)
    background = {"model": ECHO_MODEL, "input": "x", "background": True}
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: ann.post("/v1/responses", json=background), range(20)))
    assert sum(answer.is_success for answer in answers) == 5
    assert [answer.status_code for answer in answers].count(429) == 15
    assert stored(db, ann_id) == (0, 5)


def test_limits_set_on_the_command_line_take_effect(idle: Idle, database_url: str) -> None:
    ann_id, ann = idle.user("ann")

    def set_limits(*args: str) -> Result:
        return CliRunner().invoke(cli.app, ["users", "set-limits", *args, "--database-url", database_url])

    done = set_limits("ann", "--requests-per-minute", "2", "--max-queued-items", "5")
    assert done.exit_code == 0, done.output
    assert (
        "requests_per_minute          2 (set)" in done.output and "max_queued_items             5 (set)" in done.output
    )
    assert "max_concurrent_interactive   64 (default)" in done.output
    assert [ann.get("/v1/batches").status_code for _ in range(3)] == [200, 200, 429]
    # Limits not named stay; ``default`` (or 0) goes back to the server's default.
    assert set_limits("ann", "--requests-per-minute", "default").exit_code == 0
    assert idle.services.quotas.own(ann_id) == UserLimits(max_queued_items=5)
    assert set_limits("ann", "--max-queued-items", "0").exit_code == 0
    assert idle.services.quotas.own(ann_id) == UserLimits()
    refused = set_limits("ann", "--max-queued-items", "lots")
    assert refused.exit_code != 0 and "max_queued_items must be a positive whole number" in refused.output
    unknown = set_limits("nobody", "--max-queued-items", "3")
    assert unknown.exit_code != 0 and "no user named 'nobody'" in unknown.output


def test_limits_set_in_the_console_take_effect(api: Api) -> None:
    api.person("root", role="admin")
    ann_id, key = api.person("ann")
    admin = sign_in(api.url, "root", PASSWORD, next_path="/users")
    page = admin.get("/users")
    assert page.status_code == 200 and 'name="max_queued_items"' in page.text and 'placeholder="6000"' in page.text
    token = csrf_of(page.text)
    limits = {"requests_per_minute": "2", "max_concurrent_interactive": "", "max_queued_items": "default"}
    assert admin.post(f"/users/{ann_id}/limits", data=limits).status_code == 403  # no CSRF token
    saved = admin.post(f"/users/{ann_id}/limits", data={**limits, "csrf_token": token})
    assert saved.status_code == 200 and "Limits saved" in saved.text and 'value="2"' in saved.text
    assert api.services.quotas.own(ann_id) == UserLimits(requests_per_minute=2)
    client = api.client(key)
    assert [client.get("/v1/batches").status_code for _ in range(3)] == [200, 200, 429]
    bad = admin.post(f"/users/{ann_id}/limits", data={**limits, "requests_per_minute": "-1", "csrf_token": token})
    assert bad.status_code == 400 and "requests_per_minute must be a positive whole number" in bad.text
    assert api.services.quotas.own(ann_id) == UserLimits(requests_per_minute=2)
    # The user sees their limits on the keys page, and may not change them.
    own = sign_in(api.url, "ann", PASSWORD, next_path="/api-keys")
    keys_page = own.get("/api-keys")
    assert "Your limits" in keys_page.text and "<dd>2</dd>" in keys_page.text and "<dd>64</dd>" in keys_page.text
    forbidden = own.post(
        f"/users/{ann_id}/limits", data={"requests_per_minute": "", "csrf_token": csrf_of(keys_page.text)}
    )
    assert forbidden.status_code == 403
    assert api.services.quotas.own(ann_id) == UserLimits(requests_per_minute=2)
