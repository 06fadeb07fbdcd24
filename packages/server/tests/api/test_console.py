"""The console over HTTP: sign-in, CSRF, keys, users, pages (echo engine, real store)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from sference_server.domain.outcome import Usage
from sference_server.store.tables import users
from support.batches import chat_row, document, wait_terminal
from support.console import csrf_of, form_token, sign_in
from support.store import complete_with_usage, seed_batch

from .conftest import PASSWORD, Api


def login_attempt(api: Api, username: str, password: str, **extra: Any) -> httpx.Response:
    client = httpx.Client(base_url=api.url)
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/api-keys", **extra},
        headers=extra.pop("headers", {}),
    )


def test_pages_need_a_session(api: Api) -> None:
    anonymous = httpx.Client(base_url=api.url)
    for path in ("/batches", "/streams", "/api-keys", "/users", "/device?code=ABCD-EFGH"):
        response = anonymous.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=/")
    assert anonymous.get("/").headers["location"] == "/batches"


def test_sign_in_sets_a_careful_cookie_and_sign_out_ends_it(api: Api) -> None:
    api.person("ann")
    response = login_attempt(api, "ann", PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/api-keys"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("sference_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    client = sign_in(api.url, "ann", PASSWORD)
    page = client.get("/batches")
    assert page.status_code == 200 and "ann" in page.text
    assert page.headers["x-frame-options"] == "DENY" and "default-src 'self'" in page.headers["content-security-policy"]
    client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert client.get("/batches").status_code == 303
    secure = login_attempt(api, "ann", PASSWORD, headers={"x-forwarded-proto": "https"})
    assert any("Secure" in c for c in secure.headers.get_list("set-cookie") if c.startswith("sference_session="))


def test_wrong_passwords_are_refused_alike(api: Api) -> None:
    """Throttling after repeated failures: test_sign_in.py."""
    api.person("ann")
    wrong = login_attempt(api, "ann", "nope")
    unknown = login_attempt(api, "nobody", "nope")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong username or password" in wrong.text and "Wrong username or password" in unknown.text
    assert login_attempt(api, "ann", PASSWORD).status_code == 303


def test_forms_without_the_csrf_token_are_refused(api: Api) -> None:
    api.person("ann")
    client = sign_in(api.url, "ann", PASSWORD)
    forged = client.post("/api-keys", data={"name": "evil"})
    assert forged.status_code == 403 and "CSRF" in forged.text
    wrong = client.post("/api-keys", data={"name": "evil", "csrf_token": "guess"})
    assert wrong.status_code == 403
    assert "evil" not in client.get("/api-keys").text
    stale = httpx.Client(base_url=api.url).post("/login", data={"username": "ann", "password": PASSWORD})
    assert stale.status_code == 403  # the sign-in form needs its token too


def test_keys_from_the_console(api: Api) -> None:
    api.person("ann")
    client = sign_in(api.url, "ann", PASSWORD)
    created = client.post(
        "/api-keys",
        data={"name": "reader", "access": "read", "expires": "30d", "csrf_token": form_token(client, "/api-keys")},
    )
    assert created.status_code == 200 and "shown only this once" in created.text
    key = created.text.split('id="new-key">')[1].split("<")[0]
    assert key.startswith("sk_") and key not in client.get("/api-keys").text  # never shown again
    api_client = api.client(key)
    assert api_client.get("/v1/auth/me").json()["api_key"]["scopes"] == ["read"]
    assert api_client.post("/v1/batches", json=document([chat_row("a", "x")])).status_code == 403
    key_id = api_client.get("/v1/auth/me").json()["api_key"]["id"]
    client.post(f"/api-keys/{key_id}/revoke", data={"csrf_token": form_token(client, "/api-keys")})
    assert api_client.get("/v1/auth/me").status_code == 401


def test_a_keys_api_version_is_chosen_and_changed_in_the_console(api: Api) -> None:
    api.person("ann")
    client = sign_in(api.url, "ann", PASSWORD)
    created = client.post(
        "/api-keys",
        data={"name": "new cli", "api_version": "2026-11-01", "csrf_token": form_token(client, "/api-keys")},
    )
    assert "answered in API version 2026-11-01" in created.text
    key = created.text.split('id="new-key">')[1].split("<")[0]
    api_client = api.client(key)
    me = api_client.get("/v1/auth/me")
    assert me.headers["sference-version"] == "2026-11-01"
    key_id = me.json()["api_key"]["id"]
    changed = client.post(
        f"/api-keys/{key_id}/version", data={"api_version": "2025-10-01", "csrf_token": form_token(client, "/api-keys")}
    )
    assert changed.status_code == 303
    assert api_client.get("/v1/auth/me").headers["sference-version"] == "2025-10-01"
    refused = client.post(
        f"/api-keys/{key_id}/version", data={"api_version": "1999-01-01", "csrf_token": form_token(client, "/api-keys")}
    )
    assert refused.status_code == 400 and "unknown API version" in refused.text
    api.person("bob")
    other = sign_in(api.url, "bob", PASSWORD)
    stolen = other.post(
        f"/api-keys/{key_id}/version", data={"api_version": "2026-11-01", "csrf_token": form_token(other, "/api-keys")}
    )
    assert stolen.status_code == 404  # not bob's key
    assert api_client.get("/v1/auth/me").headers["sference-version"] == "2025-10-01"


def test_admins_manage_users(api: Api) -> None:
    api.person("root", role="admin")
    _, bob_key = api.person("bob")
    bob = sign_in(api.url, "bob", PASSWORD)
    assert bob.get("/users").status_code == 403
    admin = sign_in(api.url, "root", PASSWORD)
    token = form_token(admin, "/users")
    made = admin.post(
        "/users", data={"username": "carol", "password": "a new long password", "role": "user", "csrf_token": token}
    )
    assert made.status_code == 200 and "Created user carol." in made.text
    assert admin.post("/users", data={"username": "dave", "password": "short", "csrf_token": token}).status_code == 400
    sign_in(api.url, "carol", "a new long password")
    bob_id = next(
        line
        for line in admin.get("/users").text.split("/users/")
        if line.startswith(tuple("0123456789abcdef")) and "bob" in admin.get("/users").text
    )
    del bob_id
    with api.services.db.read() as conn:
        bob_row = conn.execute(users.select().where(users.c.username == "bob")).one()
    admin.post(f"/users/{bob_row.id}/disable", data={"csrf_token": token})
    assert api.client(bob_key).get("/v1/auth/me").status_code == 401
    assert bob.get("/batches").status_code == 303  # the session ended too
    admin.post(f"/users/{bob_row.id}/enable", data={"csrf_token": token})
    admin.post(f"/users/{bob_row.id}/password", data={"password": "bob's fresh password", "csrf_token": token})
    sign_in(api.url, "bob", "bob's fresh password")
    assert api.client(bob_key).get("/v1/auth/me").status_code == 200


def test_work_pages(api: Api) -> None:
    ann, key = api.person("ann")
    worker = api.client(key)
    rows = [chat_row("good", "hello"), chat_row("bad", "[[fail:permanent]]")]
    batch = worker.post("/v1/batches", json=document(rows)).json()
    wait_terminal(worker, batch["id"])
    stream = worker.post("/v1/streams", json={"name": "nightly"}).json()
    worker.post(
        "/v1/responses",
        json={
            "model": rows[0]["body"]["model"],
            "input": "stream item",
            "metadata": {"stream_id": stream["id"], "custom_id": "s1"},
        },
    )
    client = sign_in(api.url, "ann", PASSWORD)
    listing = client.get("/batches").text
    assert batch["id"][:13] in listing and 'data-live="off"' in listing
    detail = client.get(f"/batches/{batch['id']}").text
    assert "invalid_request" in detail and "bad" in detail and "Download results" in detail
    assert "Cached prompt tokens</dt><dd>0 (0.0 %)" in detail
    cached_id, _ = seed_batch(api.services.db, ann, 2, model="unserved")
    complete_with_usage(api.services.db, "unserved", [Usage(1200, 30, 1000), Usage(300, 20, 0)])
    cached = client.get(f"/batches/{cached_id}").text
    assert "<dd>1,500 in, 50 out</dd>" in cached and "Cached prompt tokens</dt><dd>1,000 (66.7 %)" in cached
    download = client.get(f"/batches/{batch['id']}/results.jsonl")
    assert download.status_code == 200 and len(download.text.splitlines()) == 2
    for _ in range(100):
        if "echo: stream item" in client.get(f"/streams/{stream['id']}").text:
            break
    assert "s1" in client.get(f"/streams/{stream['id']}").text
    token = form_token(client, f"/streams/{stream['id']}")
    client.post(f"/streams/{stream['id']}/cancel", data={"csrf_token": token})
    assert worker.get(f"/v1/streams/{stream['id']}").json()["status"] == "cancelled"
    api.person("bob")
    bob = sign_in(api.url, "bob", PASSWORD)
    missing = bob.get(f"/batches/{batch['id']}")
    assert missing.status_code == 404 and "<html" in missing.text  # a page, not JSON
    assert bob.get(f"/batches/{batch['id']}/results.jsonl").status_code == 404


@pytest.mark.parametrize("server_overrides", [{"device_poll_seconds": 1.0}])
def test_device_sign_in(api: Api) -> None:
    api.person("ann")
    oauth = httpx.Client(base_url=f"{api.url}/v1/oauth")
    started = oauth.post("/device_code", json={"client_id": "sference-cli", "device_label": "laptop"}).json()
    assert set(started) == {"device_code", "user_code", "verification_uri", "expires_in", "interval"}
    assert started["verification_uri"] == f"{api.url}/device" and started["interval"] == 1
    poll = {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "client_id": "sference-cli",
        "device_code": started["device_code"],
    }
    pending = oauth.post("/token", json=poll)
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    assert oauth.post("/token", json=poll).json()["error"] == "slow_down"  # polled again at once

    console = sign_in(api.url, "ann", PASSWORD)
    page = console.get("/device", params={"code": started["user_code"].lower().replace("-", "")})
    assert started["user_code"] in page.text and "laptop" in page.text
    approved = console.post(
        "/device", data={"code": started["user_code"], "decision": "approve", "csrf_token": csrf_of(page.text)}
    )
    assert "Device approved" in approved.text
    time.sleep(1.0)
    tokens = oauth.post("/token", data=poll).json()  # form-encoded works too
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 86400 and len(tokens["refresh_token"]) == 64
    assert oauth.post("/token", json=poll).json()["error"] == "invalid_grant"  # single use
    me = api.client(tokens["access_token"]).get("/v1/auth/me").json()
    assert me["username"] == "ann" and "laptop" in me["api_key"]["name"]

    refresh = {"grant_type": "refresh_token", "client_id": "sference-cli", "refresh_token": tokens["refresh_token"]}
    renewed = oauth.post("/token", json=refresh).json()
    assert renewed["refresh_token"] != tokens["refresh_token"]
    assert api.client(renewed["access_token"]).get("/v1/auth/me").status_code == 200
    replay = oauth.post("/token", json=refresh)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert api.client(renewed["access_token"]).get("/v1/auth/me").status_code == 401  # the grant is revoked

    denied = oauth.post("/device_code", json={"client_id": "sference-cli"}).json()
    console.post(
        "/device", data={"code": denied["user_code"], "decision": "deny", "csrf_token": form_token(console, "/device")}
    )
    time.sleep(1.0)
    refused = oauth.post("/token", json={**poll, "device_code": denied["device_code"]}).json()
    assert refused["error"] == "access_denied"
    assert oauth.post("/token", json={"grant_type": "password", "client_id": "x"}).json()["error"] == (
        "unsupported_grant_type"
    )
    assert oauth.post("/token", json={**poll, "client_id": "other"}).json()["error"] == "invalid_grant"
    assert oauth.post("/device_code", json={}).json()["error"] == "invalid_client"
