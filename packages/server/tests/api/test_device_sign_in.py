"""Device sign-in under abuse: per-address limits, where a code came from, the lifetime of a
sign-in, and deleting what expired (echo engine, real store, real HTTP)."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import func, select, update

from sference_server.store.tables import device_codes, oauth_grants, oauth_tokens
from support.console import form_token, sign_in

from .conftest import PASSWORD, Api

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
PROXIED = {"trusted_proxies": "127.0.0.1"}  # tests choose their client address with X-Forwarded-For


def oauth(api: Api, address: str | None = None, agent: str = "sference-cli/test") -> httpx.Client:
    headers = {"user-agent": agent, **({"x-forwarded-for": address} if address else {})}
    return httpx.Client(base_url=f"{api.url}/v1/oauth", headers=headers, timeout=30)


def console_of(api: Api, name: str = "ann") -> httpx.Client:
    api.person(name)
    return sign_in(api.url, name, PASSWORD)


def signed_in_device(api: Api, console: httpx.Client) -> dict[str, str]:
    client = oauth(api)
    started = client.post("/device_code", json={"client_id": "sference-cli"}).json()
    token = form_token(console, f"/device?code={started['user_code']}")
    console.post("/device", data={"code": started["user_code"], "decision": "approve", "csrf_token": token})
    poll = {"grant_type": DEVICE_GRANT, "client_id": "sference-cli", "device_code": started["device_code"]}
    tokens: dict[str, str] = client.post("/token", json=poll).json()
    return tokens


def refresh(api: Api, refresh_token: str) -> httpx.Response:
    body = {"grant_type": "refresh_token", "client_id": "sference-cli", "refresh_token": refresh_token}
    return oauth(api).post("/token", json=body)


@pytest.mark.parametrize("server_overrides", [{**PROXIED, "device_codes_per_address": 3}])
def test_asking_for_codes_is_limited_per_address(api: Api) -> None:
    busy = oauth(api, "198.51.100.7")
    for _ in range(3):
        assert busy.post("/device_code", json={"client_id": "sference-cli"}).status_code == 200
    refused = busy.post("/device_code", json={"client_id": "sference-cli"})
    assert refused.status_code == 429 and refused.json()["error"] == "slow_down"
    assert int(refused.headers["retry-after"]) >= 1
    assert oauth(api, "203.0.113.9").post("/device_code", json={"client_id": "sference-cli"}).status_code == 200


@pytest.mark.parametrize("server_overrides", [{"device_tokens_per_address": 3}])
def test_token_requests_are_limited_per_address(api: Api) -> None:
    client = oauth(api)
    for i in range(3):  # each a different code: the per-code interval does not apply
        poll = {"grant_type": DEVICE_GRANT, "client_id": "sference-cli", "device_code": f"guess-{i}"}
        assert client.post("/token", json=poll).json()["error"] == "invalid_grant"
    slowed = client.post("/token", json={"grant_type": DEVICE_GRANT, "client_id": "sference-cli", "device_code": "x"})
    assert slowed.status_code == 400 and slowed.json()["error"] == "slow_down"


@pytest.mark.parametrize("server_overrides", [PROXIED])
def test_the_approval_page_shows_where_and_when_a_code_was_asked_for(api: Api) -> None:
    before = time.time()
    started = (
        oauth(api, "198.51.100.23", agent="sference-cli/0.4.0 (probe)")
        .post("/device_code", json={"client_id": "sference-cli", "device_label": "laptop"})
        .json()
    )
    page = console_of(api).get("/device", params={"code": started["user_code"]}).text
    assert "198.51.100.23" in page and "sference-cli/0.4.0 (probe)" in page
    asked_at = time.strftime("%Y-%m-%d %H:%M", time.gmtime(before))
    assert asked_at in page or time.strftime("%Y-%m-%d %H:%M", time.gmtime(time.time())) in page


@pytest.mark.parametrize("server_overrides", [{"device_sign_in_days": 0.5}])
def test_a_sign_in_ends_after_its_lifetime_however_often_it_refreshes(api: Api) -> None:
    tokens = signed_in_device(api, console_of(api))
    assert tokens["expires_in"] == 12 * 3600  # no token outlives the sign-in (24 h otherwise)
    renewed = refresh(api, tokens["refresh_token"]).json()
    assert "access_token" in renewed
    with api.services.db.write() as conn:  # approved 12 hours ago
        conn.execute(update(oauth_grants).values(created_at=oauth_grants.c.created_at - 12 * 3600))
    expired = refresh(api, renewed["refresh_token"])
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"
    assert "expired" in expired.json()["error_description"]


def test_expired_codes_and_tokens_are_deleted(api: Api) -> None:
    console = console_of(api)
    signed_in_device(api, console)  # its access token expires below
    rotated = signed_in_device(api, console)
    renewed = refresh(api, rotated["refresh_token"]).json()  # rotated: kept, to recognise a replay
    signed_in_device(api, console)  # revoked below
    oauth(api).post("/device_code", json={"client_id": "sference-cli"})  # never approved
    with api.services.db.write() as conn:
        conn.execute(update(device_codes).values(expires_at=device_codes.c.expires_at - 3600))  # all codes expire
        grants = conn.execute(select(oauth_grants.c.id).order_by(oauth_grants.c.created_at)).scalars().all()
        conn.execute(update(oauth_grants).where(oauth_grants.c.id == grants[2]).values(revoked_at=time.time()))
        conn.execute(  # the first sign-in's access token expired
            update(oauth_tokens)
            .where(oauth_tokens.c.grant_id == grants[0], oauth_tokens.c.kind == "access")
            .values(expires_at=time.time() - 1)
        )
    oauth(api).post("/device_code", json={"client_id": "sference-cli"})  # a write that cleans up
    with api.services.db.read() as conn:
        codes = conn.execute(select(func.count()).select_from(device_codes)).scalar_one()
        kinds = conn.execute(select(oauth_tokens.c.grant_id, oauth_tokens.c.kind)).all()
    assert codes == 1  # only the code just asked for
    assert sorted((grants.index(g), k) for g, k in kinds) == [
        (0, "refresh"),
        (1, "access"),
        (1, "access"),
        (1, "refresh"),
        (1, "refresh"),
    ]
    replay = refresh(api, rotated["refresh_token"])  # the rotated token is still known: a replay revokes
    assert replay.json()["error"] == "invalid_grant" and "reused" in replay.json()["error_description"]
    assert api.client(renewed["access_token"]).get("/v1/auth/me").status_code == 401
