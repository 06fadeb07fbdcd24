"""What the schemathesis run (test_fuzz.py) found, kept as plain regression tests, and what the
published schema promises: every route documented, bodies documented without being filtered."""

from __future__ import annotations

from typing import Any

import pytest

from support.settings import ECHO_MODEL

from .conftest import Api

API_PREFIXES = ("/v1/", "/openai/")


@pytest.mark.parametrize("window", [{}, [], 24, None, True])
def test_a_batch_window_that_is_not_text_is_a_400_naming_it(api: Api, window: Any) -> None:
    # Found by the fuzzer: an object as the window was a 500 (unhashable in the set of windows).
    body = {"window": window, "requests": [{"custom_id": "a", "body": {"model": ECHO_MODEL, "messages": []}}]}
    answer = api.user("ann").post("/v1/batches", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["extra"] == [{"loc": "window", "message": "unsupported window"}]


def test_listing_the_responses_of_an_unknown_stream_is_a_documented_404(api: Api) -> None:
    answer = api.user("ann").get("/v1/responses", params={"stream_id": "01900000-0000-7000-8000-000000000000"})
    assert answer.status_code == 404, answer.text
    documented = api.client().get("/openapi.json").json()["paths"]["/v1/responses"]["get"]["responses"]
    assert "404" in documented


def test_every_api_operation_documents_its_success_and_no_422(api: Api) -> None:
    schema = api.client().get("/openapi.json").json()
    operations = [
        (path, method, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
        if path.startswith(API_PREFIXES)
    ]
    assert len(operations) > 40
    for path, method, operation in operations:
        responses = operation["responses"]
        success = responses.get("200") or responses.get("201") or responses.get("202")
        assert success and success.get("content"), f"{method} {path} documents no body"
        assert "422" not in operation["responses"], f"{method} {path}: bad input is a 400 here"
    assert not any(path.startswith(("/login", "/api-keys", "/users", "/device")) for path in schema["paths"])


def test_streaming_routes_document_server_sent_events(api: Api) -> None:
    paths = api.client().get("/openapi.json").json()["paths"]
    for path in ("/v1/chat/completions", "/openai/v1/chat/completions", "/openai/v1/responses", "/v1/messages"):
        content = paths[path]["post"]["responses"]["200"]["content"]
        assert {"application/json", "text/event-stream"} <= content.keys(), path


def test_documented_bodies_are_not_filtered_or_filled_in(api: Api) -> None:
    # The seed's response has no incomplete_details; the documented model has it (for the newer
    # version). A filtering response_model would add it as null for the 0.0.4 clients.
    client = api.user("ann")
    created = client.post("/v1/responses", json={"model": ECHO_MODEL, "input": "hi", "background": True})
    assert created.status_code == 201, created.text
    assert "incomplete_details" not in created.json()
    components = api.client().get("/openapi.json").json()["components"]["schemas"]
    assert "incomplete_details" in components["Response"]["properties"]


def test_a_file_purpose_too_long_for_the_store_is_a_400_naming_it(api: Api) -> None:
    # Found by the fuzzer on PostgreSQL (SQLite does not enforce VARCHAR lengths): a 500.
    client = api.user("ann")
    answer = client.post("/openai/v1/files", files={"file": ("in.jsonl", b"{}\n")}, data={"purpose": "b" * 33})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == "purpose"
    fits = client.post("/openai/v1/files", files={"file": ("in.jsonl", b"")}, data={"purpose": "p" * 32})
    assert fits.status_code == 200, fits.text
