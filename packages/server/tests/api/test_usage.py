"""``GET /v1/usage`` over real HTTP: work run through the echo engine shows up per UTC day, user
and model; a user reads their own, an administrator anyone's; bad dates are refused by name."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from sference_server.domain.outcome import Usage
from sference_server.services.usage import MAX_DAYS
from support.batches import chat_row, document, wait_terminal
from support.settings import ECHO_MODEL
from support.store import complete_with_usage, seed_batch

from .conftest import Api


def run_batch(client: httpx.Client, contents: list[str]) -> dict[str, Any]:
    created = client.post("/v1/batches", json=document([chat_row(f"r{i}", c) for i, c in enumerate(contents)]))
    assert created.status_code == 201, created.text
    return wait_terminal(client, created.json()["id"])


def usage(client: httpx.Client, **params: Any) -> httpx.Response:
    return client.get("/v1/usage", params=params)


def test_a_users_requests_failures_and_tokens_add_up_per_model_and_day(api: Api) -> None:
    client = api.user("ann")
    batch = run_batch(client, ["hello there", "one two three four", "this one [[fail:permanent]]"])
    assert (batch["request_counts"]["completed"], batch["request_counts"]["failed"]) == (2, 1)
    chat = client.post(
        "/openai/v1/chat/completions",
        json={"model": ECHO_MODEL, "messages": [{"role": "user", "content": "and a chat"}]},
    )
    assert chat.status_code == 200, chat.text

    report = usage(client)
    assert report.status_code == 200, report.text
    body = report.json()
    me = client.get("/v1/auth/me").json()
    today = datetime.now(UTC).date()
    assert body["object"] == "usage" and body["user_id"] == me["id"] and body["model"] is None
    assert (body["since"], body["until"]) == ((today - timedelta(days=29)).isoformat(), today.isoformat())
    (row,) = body["data"]
    # The echo engine: a prompt token per word and message, an output token per word of "echo: ...".
    input_tokens = batch["total_prompt_tokens"] + chat.json()["usage"]["prompt_tokens"]
    output_tokens = batch["total_completion_tokens"] + chat.json()["usage"]["completion_tokens"]
    assert (input_tokens, output_tokens) == (3 + 5 + 4, 3 + 5 + 4)  # the failed one has none
    assert row == {
        "date": batch["completed_at"][:10],  # a UTC time: the day the requests finished
        "user_id": me["id"],
        "username": "ann",
        "model": ECHO_MODEL,
        "requests": 3,
        "failed": 1,
        "cancelled": 0,
        "expired": 0,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_tokens": 0,
        "reasoning_tokens": 0,
    }
    assert body["totals"] == {k: v for k, v in row.items() if k not in ("date", "user_id", "username", "model")}
    assert usage(client, model="no-such-model").json()["data"] == []


def test_a_user_reads_their_own_usage_and_an_administrator_anyones(api: Api) -> None:
    ann_id, ann_key = api._make_user("ann")
    bob_id, bob_key = api._make_user("bob")
    ann, bob, admin = api.client(ann_key), api.client(bob_key), api.user("root", role="admin")
    run_batch(ann, ["from ann"])
    run_batch(bob, ["from bob", "bob again"])

    assert [r["username"] for r in usage(ann).json()["data"]] == ["ann"]
    assert usage(ann, user_id=ann_id).json()["data"][0]["requests"] == 1  # naming oneself is fine
    for params in ({"user_id": bob_id}, {"user_id": "no-such-user"}, {"all_users": "true"}):
        refused = usage(ann, **params)
        assert refused.status_code == 403, refused.text
        assert refused.json()["detail"] == "only administrators may read the usage of other users"

    assert usage(admin).json()["data"] == []  # an administrator's own, by default
    of_bob = usage(admin, user_id=bob_id).json()
    assert of_bob["user_id"] == bob_id and [(r["username"], r["requests"]) for r in of_bob["data"]] == [("bob", 2)]
    everyone = usage(admin, all_users="true").json()
    assert everyone["user_id"] is None
    assert [(r["username"], r["requests"]) for r in everyone["data"]] == [("ann", 1), ("bob", 2)]
    assert everyone["totals"]["requests"] == 3
    unknown = usage(admin, user_id="no-such-user")
    assert unknown.status_code == 404 and "no-such-user" in unknown.json()["detail"]
    both = usage(admin, user_id=bob_id, all_users="true")
    assert both.status_code == 400 and both.json()["extra"][0]["loc"] == "user_id"


def test_dates_select_the_days_and_the_model_the_rows(api: Api) -> None:
    user_id, key = api._make_user("ann")
    client = api.client(key)
    days = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 5)]
    for day, n in zip(days, (1, 2, 3), strict=True):  # finished on other days, through the store
        seed_batch(api.services.db, user_id, n, model="unserved")
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp()
        complete_with_usage(api.services.db, "unserved", [Usage(10, 1, 4)] * n, at=noon)
    seed_batch(api.services.db, user_id, 1, model="also-unserved")
    complete_with_usage(api.services.db, "also-unserved", [None], at=datetime(2026, 3, 2, tzinfo=UTC).timestamp())

    march = usage(client, since="2026-03-01", until="2026-03-31").json()
    assert [(r["date"], r["model"], r["requests"], r["failed"]) for r in march["data"]] == [
        ("2026-03-01", "unserved", 1, 0),
        ("2026-03-02", "also-unserved", 0, 1),
        ("2026-03-02", "unserved", 2, 0),
        ("2026-03-05", "unserved", 3, 0),
    ]
    assert march["totals"]["input_tokens"] == 60 and march["totals"]["cached_tokens"] == 24
    middle = usage(client, since="2026-03-02", until="2026-03-04", model="unserved").json()
    assert [(r["date"], r["requests"]) for r in middle["data"]] == [("2026-03-02", 2)]
    assert middle["model"] == "unserved" and middle["totals"]["requests"] == 2
    one_day = usage(client, since="2026-03-05", until="2026-03-05").json()
    assert [r["date"] for r in one_day["data"]] == ["2026-03-05"]
    assert usage(client, since="2026-03-06", until="2026-03-31").json()["data"] == []
    # until alone: the 30 days that end on it
    ending = usage(client, until="2026-03-30").json()
    assert (ending["since"], ending["until"]) == ("2026-03-01", "2026-03-30") and len(ending["data"]) == 4


@pytest.mark.parametrize(
    ("params", "where", "fragment"),
    [
        ({"since": "2026-13-01"}, "since", "YYYY-MM-DD"),
        ({"since": "2026-02-30"}, "since", "YYYY-MM-DD"),
        ({"until": "2026/03/01"}, "until", "pattern"),
        ({"since": "yesterday"}, "since", "pattern"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "since", "is after until"),
        ({"since": "2025-01-01", "until": "2026-03-01"}, "since", f"at most {MAX_DAYS} days"),
    ],
)
def test_bad_dates_are_refused_naming_the_parameter(
    api: Api, params: dict[str, str], where: str, fragment: str
) -> None:
    response = usage(api.user("ann"), **params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert fragment in body["detail"]
    assert [problem["loc"].split(".")[-1] for problem in body["extra"]] == [where]


def test_a_year_is_the_longest_range(api: Api) -> None:
    client = api.user("ann")
    year = usage(client, since="2024-01-01", until="2024-12-31")  # 366 days: a leap year
    assert year.status_code == 200, year.text
    assert usage(client, since="2023-01-01", until="2024-01-02").status_code == 400  # 367 days
