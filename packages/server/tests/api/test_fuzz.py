"""Schemathesis against ``/openapi.json``: every operation, on SQLite and PostgreSQL, with inputs
made from the schema (valid and invalid). No answer may be a 5xx, and every answer must have a
documented status, a documented content type and a body that matches its schema.

One live server per store (echo engine, real HTTP); the routes that take a credential get a
user's API key, the device sign-in routes (``/v1/oauth/*``) none. Deterministic, so CI is
reproducible; ``SFERENCE_TEST_FUZZ_EXAMPLES`` (default 8) sets how many inputs each operation
gets: raise it to fuzz harder locally (docs/testing.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from sference_server.store.migrate import upgrade
from support.live import ThreadServer
from support.postgres import create_database, drop_database
from support.settings import echo_settings

EXAMPLES = int(os.environ.get("SFERENCE_TEST_FUZZ_EXAMPLES", "8"))
LONGEST_WAIT_MS = 20
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fuzzed_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated store for the whole module (the fuzz run is one test per store)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'sference.db'}"
        db = Database(url)
        upgrade(db)
        db.dispose()
        yield url
        return
    admin = request.getfixturevalue("pg_admin_url")
    url = create_database(admin, template=request.getfixturevalue("pg_template"))
    yield url
    drop_database(admin, url)


@pytest.fixture(scope="module")
def fuzz_key(fuzzed_url: str) -> str:
    db = Database(fuzzed_url)
    try:
        accounts = Accounts(db)
        return accounts.create_key(accounts.create_user("fuzzer"), scopes="read write").plaintext
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def fuzz_schema(fuzzed_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    db = Database(fuzzed_url)
    services = ApiServices.build(echo_settings(Path(tmp_path_factory.mktemp("data")), fuzzed_url), db)
    with ThreadServer(services) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        schema.config.update(base_url=server.url, request_timeout=30)
        yield schema
    db.dispose()


def _fuzz(operation: Any, mode: GenerationMode, key: str) -> str | None:
    """What went wrong with ``operation`` on inputs of ``mode``, or None."""
    authenticated = bool(operation.definition.raw.get("security"))
    headers = {"Authorization": f"Bearer {key}"} if authenticated else {}

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
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:  # no parameter or body to get wrong
        return None
    except (Exception, BaseExceptionGroup) as exc:  # failed checks: report them with the others
        return f"{operation.label} ({mode.value} inputs):\n{exc}"
    return None


def test_every_operation_answers_as_documented(fuzz_schema: Any, fuzz_key: str) -> None:
    operations = [result.ok() for result in fuzz_schema.get_all_operations()]
    assert len(operations) > 40  # every route is in the schema
    problems = [
        problem
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if (problem := _fuzz(operation, mode, fuzz_key)) is not None
    ]
    assert not problems, "\n\n".join(problems)
