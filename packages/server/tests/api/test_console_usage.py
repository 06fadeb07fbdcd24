"""The console's usage page over HTTP: a chart of the days and a table per model; an
administrator picks a user or everybody, a user sees only their own."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx

from sference_server.domain.outcome import Usage
from support.console import sign_in
from support.store import complete_with_usage, seed_batch

from .conftest import PASSWORD, Api


def noon(day: str) -> float:
    return datetime.fromisoformat(f"{day}T12:00:00").replace(tzinfo=UTC).timestamp()


def test_the_usage_page_charts_the_days_and_totals_the_models(api: Api) -> None:
    ann, _ = api.person("ann")
    bob, _ = api.person("bob")
    api.person("root", role="admin")
    db = api.services.db
    seed_batch(db, ann, 2, model="m-one")
    complete_with_usage(db, "m-one", [Usage(1200, 30, 1000), Usage(300, 20)], at=noon("2026-04-02"))
    seed_batch(db, ann, 1, model="m-two")
    complete_with_usage(db, "m-two", [None], at=noon("2026-04-04"))
    seed_batch(db, bob, 1, model="m-one")
    complete_with_usage(db, "m-one", [Usage(7000, 70)], at=noon("2026-04-03"))

    anonymous = httpx.Client(base_url=api.url).get("/usage")
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=/usage"
    client = sign_in(api.url, "ann", PASSWORD)
    nav = client.get("/batches").text
    assert '<a href="/usage"' in nav
    page = client.get("/usage", params={"since": "2026-04-01", "until": "2026-04-05"})
    assert page.status_code == 200, page.text
    html = page.text
    assert 'name="who"' not in html  # no user picker for a user
    days = re.findall(r'data-day="([0-9-]+)" data-input="(\d+)" data-output="(\d+)"', html)
    assert days == [
        ("2026-04-01", "0", "0"),
        ("2026-04-02", "1500", "50"),
        ("2026-04-03", "0", "0"),  # bob's day, not ann's
        ("2026-04-04", "0", "0"),
        ("2026-04-05", "0", "0"),
    ]
    assert "<code>m-one</code></td>" in html and "<code>m-two</code></td>" in html
    assert '<td class="num">1,500</td><td class="num">50</td>' in html  # m-one's input and output tokens
    assert "7,000" not in html
    assert "Content-Security-Policy" not in html and "style=" not in html  # nothing the policy would block

    root = sign_in(api.url, "root", PASSWORD)
    everyone = root.get("/usage", params={"since": "2026-04-01", "until": "2026-04-05", "who": "all"}).text
    assert '<option value="all" selected>' in everyone
    assert re.search(r'data-day="2026-04-03" data-input="7000" data-output="70"', everyone)
    assert "8,500" in everyone  # the total of everybody's input tokens
    of_bob = root.get("/usage", params={"since": "2026-04-01", "until": "2026-04-05", "who": bob}).text
    assert f'<option value="{bob}" selected>' in of_bob and "7,000" in of_bob and "1,500" not in of_bob

    sneaky = client.get("/usage", params={"who": bob})
    assert sneaky.status_code == 403 and "only administrators" in sneaky.text
    bad = client.get("/usage", params={"since": "2026-04-31"})
    assert bad.status_code == 400 and "since must be a date as YYYY-MM-DD" in bad.text and "<html" in bad.text
