"""GET /metrics: Prometheus' text format behind its own token, counting what the worker did."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.batches import chat_row, document, wait_terminal
from support.settings import ECHO_MODEL

from .conftest import Api

TOKEN = "scrape-0123456789abcdef"


def scrape(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape: (name, sorted labels) -> value."""
    response = api.client(TOKEN).get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def server_overrides() -> dict[str, Any]:
    return {"metrics_token": TOKEN}


def test_metrics_need_their_own_token(api: Api) -> None:
    _, key = api.person("alice")
    assert api.client().get("/metrics").status_code == 401
    assert api.client(key).get("/metrics").status_code == 401  # a user's API key is not the scraper's secret
    assert api.client("scrape-wrong").get("/metrics").status_code == 401
    assert api.client(TOKEN).get("/metrics").status_code == 200
    assert "/metrics" not in api.client(key).get("/openapi.json").json()["paths"]


def test_a_batch_shows_in_the_counters(api: Api) -> None:
    client = api.user("alice")
    before = scrape(api)
    rows = [chat_row("a", "one two three"), chat_row("b", "four five"), chat_row("c", "[[fail:permanent]]")]
    batch_id = client.post("/v1/batches", json=document(rows)).raise_for_status().json()["id"]
    batch = wait_terminal(client, batch_id)
    after = scrape(api)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("sference_items_claimed_total", model=ECHO_MODEL) == 3
    assert delta("sference_items_finished_total", model=ECHO_MODEL, status="completed", error_code="") == 2
    assert delta("sference_items_finished_total", model=ECHO_MODEL, status="failed", error_code="invalid_request") == 1
    assert delta("sference_tokens_total", model=ECHO_MODEL, kind="input") == batch["total_prompt_tokens"] > 0
    assert delta("sference_tokens_total", model=ECHO_MODEL, kind="output") == batch["total_completion_tokens"] > 0
    timed = "sference_http_request_duration_seconds_count"
    assert delta(timed, route="/v1/batches", method="POST", status="201") == 1
    assert delta(timed, route="/v1/batches/{batch_id}", method="GET", status="200") >= 1
    assert value(after, "sference_engine_slots", model=ECHO_MODEL) > 0
    assert value(after, "sference_queue_items", model=ECHO_MODEL, priority="queued", state="queued") == 0


def test_unknown_paths_share_one_label(api: Api) -> None:
    before = scrape(api)
    for n in range(3):
        api.client().get(f"/no/such/path/{n}")
    after = scrape(api)
    labels = {"route": "unmatched", "method": "GET", "status": "404"}
    name = "sference_http_request_duration_seconds_count"
    assert value(after, name, **labels) - value(before, name, **labels) == 3
    assert not any("/no/such" in str(key) for key in after)


@pytest.mark.parametrize("server_overrides", [{}])
def test_metrics_are_off_without_a_token(api: Api) -> None:
    response = api.client(TOKEN).get("/metrics")
    assert response.status_code == 404
    assert "docs/operations.md#monitoring" in response.json()["detail"]
