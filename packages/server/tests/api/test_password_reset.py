"""A new password ends the user's console sessions and device sign-ins (echo engine, real store,
real HTTP)."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from sference_server.security.accounts import Accounts
from sference_server.store.tables import oauth_tokens
from support.console import form_token, sign_in

from .conftest import PASSWORD, Api

NEW_PASSWORD = "another horse battery"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def device_sign_in(api: Api, console: httpx.Client) -> dict[str, str]:
    """Tokens of a device sign-in approved in ``console``."""
    oauth = httpx.Client(base_url=f"{api.url}/v1/oauth")
    started = oauth.post("/device_code", json={"client_id": "sference-cli"}).json()
    token = form_token(console, f"/device?code={started['user_code']}")
    console.post("/device", data={"code": started["user_code"], "decision": "approve", "csrf_token": token})
    poll = {"grant_type": DEVICE_GRANT, "client_id": "sference-cli", "device_code": started["device_code"]}
    tokens: dict[str, str] = oauth.post("/token", json=poll).json()
    assert "access_token" in tokens, tokens
    return tokens


def signed_in(client: httpx.Client) -> bool:
    return client.get("/batches").status_code == 200


def device_works(api: Api, tokens: dict[str, str]) -> bool:
    return api.client(tokens["access_token"]).get("/v1/auth/me").status_code == 200


def refresh_error(api: Api, tokens: dict[str, str]) -> str | None:
    body = {"grant_type": "refresh_token", "client_id": "sference-cli", "refresh_token": tokens["refresh_token"]}
    return httpx.post(f"{api.url}/v1/oauth/token", json=body).json().get("error")  # type: ignore[no-any-return]


def test_an_admin_reset_ends_the_users_sessions_and_devices(api: Api) -> None:
    ann_id, _ = api.person("ann")
    api.person("root", role="admin")
    ann, ann_elsewhere = sign_in(api.url, "ann", PASSWORD), sign_in(api.url, "ann", PASSWORD)
    tokens, kept = device_sign_in(api, ann), device_sign_in(api, ann)
    assert signed_in(ann) and device_works(api, tokens)
    root = sign_in(api.url, "root", PASSWORD)
    root_device = device_sign_in(api, root)
    changed = root.post(
        f"/users/{ann_id}/password", data={"password": NEW_PASSWORD, "csrf_token": form_token(root, "/users")}
    )
    assert changed.status_code == 200 and "Password changed" in changed.text
    assert not signed_in(ann) and not signed_in(ann_elsewhere)
    assert not device_works(api, tokens) and refresh_error(api, kept) == "invalid_grant"
    with api.services.db.read() as conn:  # the revoked sign-ins' tokens are gone
        left = conn.execute(select(oauth_tokens.c.token_hash)).all()
    assert len(left) == 2  # root's access and refresh token
    assert signed_in(root) and device_works(api, root_device)  # nobody else's
    assert signed_in(sign_in(api.url, "ann", NEW_PASSWORD))


def test_changing_ones_own_password_keeps_that_session_only(api: Api) -> None:
    root_id, _ = api.person("root", role="admin")
    here, there = sign_in(api.url, "root", PASSWORD), sign_in(api.url, "root", PASSWORD)
    tokens = device_sign_in(api, there)
    changed = here.post(
        f"/users/{root_id}/password", data={"password": NEW_PASSWORD, "csrf_token": form_token(here, "/users")}
    )
    assert "your other sessions" in changed.text
    assert signed_in(here) and not signed_in(there) and not device_works(api, tokens)


def test_a_short_password_is_refused_and_changes_nothing(api: Api) -> None:
    ann_id, _ = api.person("ann")
    api.person("root", role="admin")
    ann, root = sign_in(api.url, "ann", PASSWORD), sign_in(api.url, "root", PASSWORD)
    form = {"password": "short", "csrf_token": form_token(root, "/users")}
    refused = root.post(f"/users/{ann_id}/password", data=form)
    assert refused.status_code == 400 and "at least 10 characters" in refused.text
    assert signed_in(ann)


def test_the_command_line_reset_ends_sessions_and_devices(api: Api) -> None:
    """What ``sference-server users set-password`` calls."""
    ann_id, _ = api.person("ann")
    ann = sign_in(api.url, "ann", PASSWORD)
    tokens = device_sign_in(api, ann)
    Accounts(api.services.db).set_password(ann_id, NEW_PASSWORD)
    assert not signed_in(ann) and not device_works(api, tokens) and refresh_error(api, tokens) == "invalid_grant"
