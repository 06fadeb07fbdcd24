"""GET /metrics: Prometheus' text format behind its own token, counting what the worker did."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sference_server.services import ApiServices
from sference_server.store.database import Database
from support.batches import chat_row, document, wait_terminal
from support.live import ThreadServer
from support.settings import ECHO_MODEL, echo_settings
from support.upstream import ThrottlingUpstream, free_port

from .conftest import Api

TOKEN = "scrape-0123456789abcdef"
REMOTE = "acme/remote"


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


@pytest.mark.parametrize("server_overrides", [{}, {"metrics_token": ""}, {"metrics_token": "  "}])
def test_metrics_are_off_without_a_token(api: Api) -> None:
    for client in (api.client(TOKEN), api.client()):  # a blank token opens nothing
        response = client.get("/metrics")
        assert response.status_code == 404
        assert "docs/operations.md#monitoring" in response.json()["detail"]


def test_upstream_replicas_report_their_state_and_limit(
    tmp_path: Path, database_url: str, db: Database, make_user: Callable[..., tuple[str, str]]
) -> None:
    """A fleet of two replicas, one of them unreachable: the gauges say which is up, and each
    replica's adaptive limit."""
    with ThrottlingUpstream(seconds_per_word=0.0) as upstream:
        dead = f"http://127.0.0.1:{free_port()}/v1"
        options = {"base_urls": [upstream.base_url, dead], "initial_concurrency": 3}
        model = {"id": REMOTE, "engine": "openai", "options": options}
        settings = echo_settings(tmp_path, database_url, models=[model], metrics_token=TOKEN)
        with ThreadServer(ApiServices.build(settings, db)) as server:
            _, key = make_user("ann")
            body = {"model": REMOTE, "messages": [{"role": "user", "content": "hello there"}]}
            with httpx.Client(base_url=server.url, timeout=30) as client:
                answered = client.post(
                    "/openai/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
                )
                assert answered.status_code == 200, answered.text
                deadline = time.monotonic() + 10
                while True:  # the gauges are sampled once a second
                    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
                    got = {
                        (s.name, s.labels.get("replica")): s.value
                        for family in text_string_to_metric_families(text)
                        for s in family.samples
                        if s.labels.get("model") == REMOTE
                    }
                    if got.get(("sference_upstream_replica_up", dead)) == 0 or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
    assert got[("sference_upstream_replica_up", upstream.base_url)] == 1
    assert got[("sference_upstream_replica_up", dead)] == 0
    assert got[("sference_upstream_replica_limit", upstream.base_url)] >= 3
    assert got[("sference_upstream_replica_in_flight", upstream.base_url)] == 0
    assert got[("sference_engine_slots", None)] > 0
