"""Schemathesis against ``/openapi.json``: every operation, on SQLite and PostgreSQL, with inputs
made from the schema (valid and invalid). No answer may be a 5xx, and every answer must have a
documented status, a documented content type and a body that matches its schema.

One live server per store (echo engine, real HTTP); the routes that take a credential get a
user's API key, the device sign-in routes (``/v1/oauth/*``) none. Deterministic, so CI is
reproducible; ``SFERENCE_TEST_FUZZ_EXAMPLES`` (default 25) sets how many inputs each operation
gets: raise it to fuzz harder locally (docs/testing.md).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sference_server.security.accounts import Accounts
from sference_server.services import ApiServices
from sference_server.store.database import Database
from support.live import ThreadServer
from support.settings import ECHO_MODEL, echo_settings
from support.store import STORES, migrated_store

EXAMPLES = int(os.environ.get("SFERENCE_TEST_FUZZ_EXAMPLES", "25"))
LONGEST_WAIT_MS = 20
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module", params=STORES)
def fuzzed_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated store for the whole module (the fuzz run is one test per store)."""
    yield from migrated_store(request, tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def fuzz_key(fuzzed_url: str) -> str:
    db = Database(fuzzed_url)
    try:
        accounts = Accounts(db)
        return accounts.create_key(accounts.create_user("fuzzer"), scopes="read write").plaintext
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def fuzz_server(fuzzed_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadServer]:
    db = Database(fuzzed_url)
    # No per-user request rate: thousands of requests a minute from one key would otherwise meet
    # 429s as fast as the run goes (the limit is tested in test_quotas.py).
    settings = echo_settings(Path(tmp_path_factory.mktemp("data")), fuzzed_url, requests_per_minute=0)
    services = ApiServices.build(settings, db)
    with ThreadServer(services) as server:
        yield server
    db.dispose()


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_server: ThreadServer) -> Any:
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    schema.config.update(base_url=fuzz_server.url, request_timeout=30)
    return schema


@pytest.fixture(scope="module")
def known_ids(fuzz_server: ThreadServer, fuzz_key: str) -> dict[str, str]:
    """Objects of the fuzzing user, so that valid inputs also name ids that exist: path
    parameter -> id (``openai_batch_id`` for the OpenAI surface's batches)."""
    chat = {"model": ECHO_MODEL, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=fuzz_server.url, headers={"Authorization": f"Bearer {fuzz_key}"}) as client:
        stream = client.post("/v1/streams", json={"name": "fuzz"}).json()
        batch = client.post("/v1/batches", json={"window": "24h", "requests": [{"custom_id": "a", "body": chat}]})
        response = client.post("/v1/responses", json={"model": ECHO_MODEL, "input": "hi", "background": True})
        line = json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": chat})
        upload = client.post("/openai/v1/files", files={"file": ("in.jsonl", line.encode())}, data={"purpose": "batch"})
        spec = {"input_file_id": upload.json()["id"], "endpoint": "/v1/chat/completions"}
        openai_batch = client.post("/openai/v1/batches", json=spec)
        # ``.invalid`` never resolves (RFC 2606): the deliverer's attempts fail, as they may.
        hook = client.post("/v1/webhooks/endpoints", json={"url": "https://hooks.example.invalid/fuzz"}).json()
        delivery = client.post(f"/v1/webhooks/endpoints/{hook['id']}/test").json()
    return {
        "stream_id": stream["id"],
        "batch_id": batch.json()["id"],
        "response_id": response.json()["id"],
        "file_id": upload.json()["id"],
        "openai_batch_id": openai_batch.json()["id"],
        "model_id": ECHO_MODEL,
        "endpoint_id": hook["id"],
        "delivery_id": delivery["id"],
    }


def _fuzz(operation: Any, mode: GenerationMode, key: str, known: dict[str, str]) -> str | None:
    """What went wrong with ``operation`` on inputs of ``mode``, or None."""
    authenticated = bool(operation.definition.raw.get("security"))
    headers = {"Authorization": f"Bearer {key}"} if authenticated else {}
    turns = itertools.count()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        if isinstance(case.query, dict) and isinstance(case.query.get("wait_ms"), int):
            case.query["wait_ms"] = min(case.query["wait_ms"], LONGEST_WAIT_MS)  # long polls are legitimate
        if mode is GenerationMode.POSITIVE:
            _name_known_objects(case, known, every_other=next(turns) % 2 == 0)
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:  # no parameter or body to get wrong
        return None
    except (Exception, BaseExceptionGroup) as exc:  # failed checks: report them with the others
        return f"{operation.label} ({mode.value} inputs):\n{exc}"
    return None


def _name_known_objects(case: Any, known: dict[str, str], *, every_other: bool) -> None:
    """Valid inputs that name what exists: the served model, and every other time the user's
    objects (the other times random ids get their 404s)."""
    if isinstance(case.body, dict) and "model" in case.body:
        case.body["model"] = ECHO_MODEL
    if not case.path_parameters or not every_other:
        return
    for name in case.path_parameters:
        openai_batch = name == "batch_id" and case.operation.path.startswith("/openai/")
        case.path_parameters[name] = known["openai_batch_id" if openai_batch else name]


def test_every_operation_answers_as_documented(fuzz_schema: Any, fuzz_key: str, known_ids: dict[str, str]) -> None:
    operations = [result.ok() for result in fuzz_schema.get_all_operations()]
    assert len(operations) > 40  # every route is in the schema
    problems = [
        problem
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if (problem := _fuzz(operation, mode, fuzz_key, known_ids)) is not None
    ]
    assert not problems, "\n\n".join(problems)
