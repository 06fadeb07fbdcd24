"""Security headers on every response, and Swagger UI off unless asked for (real server, real HTTP)."""

from __future__ import annotations

import httpx
import pytest

from .conftest import Api

COMMON = {"x-content-type-options": "nosniff", "referrer-policy": "same-origin", "x-frame-options": "DENY"}


def assert_common(response: httpx.Response) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (response.request.url, name)


def test_api_console_and_error_responses_carry_the_headers(api: Api) -> None:
    _, key = api._make_user("ann")
    anonymous = api.client()
    responses = [
        anonymous.get("/v1/health/ready"),
        anonymous.get("/v1/auth/me"),  # 401
        anonymous.get("/no/such/page"),  # 404
        anonymous.post("/v1/responses", content=b"{not json", headers={"authorization": f"Bearer {key}"}),
        api.client(key).get("/v1/batches"),
        anonymous.get("/login"),
        anonymous.get("/static/console/console.css"),
    ]
    assert [r.status_code for r in responses][:4] == [200, 401, 404, 400]
    for response in responses:
        assert_common(response)
        assert "strict-transport-security" not in response.headers  # plain HTTP
    api_csp = responses[0].headers["content-security-policy"]
    assert "default-src 'none'" in api_csp and "frame-ancestors 'none'" in api_csp
    console_csp = responses[5].headers["content-security-policy"]
    assert "base-uri 'none'" in console_csp and "script-src 'self'" in console_csp
    # One of each header, not the console's and the middleware's both.
    assert len(responses[5].headers.get_list("x-frame-options")) == 1
    assert len(responses[5].headers.get_list("content-security-policy")) == 1


def test_hsts_only_when_the_request_came_over_https(api: Api) -> None:
    client = api.client()
    assert "strict-transport-security" not in client.get("/v1/health/ready").headers
    proxied = client.get("/v1/health/ready", headers={"x-forwarded-proto": "https"})
    assert proxied.headers["strict-transport-security"].startswith("max-age=")
    assert client.get("/login", headers={"x-forwarded-proto": "https"}).headers["strict-transport-security"]


# api/health/routes.py serves GET and HEAD under one function: FastAPI warns of a duplicate id.
@pytest.mark.filterwarnings("ignore:Duplicate Operation ID")
def test_swagger_ui_is_off_by_default_and_the_openapi_document_is_served(api: Api) -> None:
    client = api.client()
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404
    spec = client.get("/openapi.json")
    assert spec.status_code == 200 and spec.json()["info"]["title"] == "sference"


@pytest.mark.parametrize("server_overrides", [{"api_docs": True}])
def test_swagger_ui_when_turned_on(api: Api) -> None:
    page = api.client().get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert_common(page)
    # Its scripts come from elsewhere: no default policy that would block them.
    assert "content-security-policy" not in page.headers
