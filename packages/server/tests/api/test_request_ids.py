"""``X-Request-Id`` on every response, on every log line of the request, and on the access line
(real server on loopback, real HTTP)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from sference_server import logs
from sference_server.api.models import routes as model_routes

from .conftest import Api


class Lines(logging.Handler):
    """The records logged, with the ids bound where each was logged (as the server's handler)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.addFilter(logs.ContextFields())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def of(self, request_id: str) -> list[logging.LogRecord]:
        return [r for r in self.records if getattr(r, "context", {}).get("request_id") == request_id]


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def test_a_sane_request_id_is_kept_and_echoed_and_closes_with_an_access_line(api: Api, lines: Lines) -> None:
    _, key = api._make_user("ann")
    response = api.client(key).get("/v1/models", headers={"X-Request-Id": "lb-7f3a:42"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "lb-7f3a:42"
    (access,) = [r for r in lines.of("lb-7f3a:42") if r.name == "sference.access"]
    fields: dict[str, Any] = access.fields  # type: ignore[attr-defined]
    assert (fields["method"], fields["path"], fields["status"]) == ("GET", "/v1/models", 200)
    assert fields["duration_ms"] >= 0


def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(api: Api) -> None:
    client = api.client()
    ids = [
        client.get("/v1/health/live").headers["x-request-id"],
        client.get("/v1/health/live").headers["x-request-id"],
        client.get("/v1/health/live", headers={"X-Request-Id": "x" * 129}).headers["x-request-id"],
        client.get("/v1/health/live", headers={"X-Request-Id": "two words"}).headers["x-request-id"],
        client.get("/v1/health/live", headers={"X-Request-Id": '{"json":1}'}).headers["x-request-id"],
    ]
    assert len(set(ids)) == 5
    for made in ids:
        assert uuid.UUID(made).version == 7


def test_an_unhandled_error_is_logged_with_the_request_id_and_answered_500_with_it(
    api: Api, lines: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        logging.getLogger("sference.test").warning("about to fail")
        raise RuntimeError("a bug")

    monkeypatch.setattr(model_routes, "_model", broken)
    _, key = api._make_user("ann")
    response = api.client(key).get("/v1/models", headers={"X-Request-Id": "req-500"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-500"
    assert response.headers["x-content-type-options"] == "nosniff"  # inside the security headers
    assert response.json()["detail"] == "internal server error; the server log has the details"
    of_request = lines.of("req-500")
    assert [r.getMessage() for r in of_request if r.name == "sference.test"] == ["about to fail"]  # route thread
    (crash,) = [r for r in of_request if r.name == "sference.api"]
    assert crash.exc_info and "a bug" in str(crash.exc_info[1])
    assert [r.fields["status"] for r in of_request if r.name == "sference.access"] == [500]  # type: ignore[attr-defined]
