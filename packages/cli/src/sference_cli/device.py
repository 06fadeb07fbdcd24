"""Signing in without copying a key: the RFC 8628 device flow against ``/v1/oauth``.

The CLI asks for a code, shows it with the console URL, and polls until a signed-in user approves
it. It then keeps a 24 h access token and a rotating refresh token in the credentials file and
refreshes the pair shortly before the access token expires.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from typing import Any

import httpx

CLIENT_ID = "sference-cli"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REFRESH_MARGIN_SECONDS = 60


class DeviceLoginFailed(Exception):
    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error


def _post(base_url: str, path: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    try:
        response = httpx.post(f"{base_url}/v1/oauth/{path}", json=payload, timeout=30)
    except httpx.TransportError as exc:
        raise DeviceLoginFailed("network_error", f"could not reach {base_url}: {exc}") from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    return response.status_code, body if isinstance(body, dict) else {}


def _failed(status: int, body: dict[str, Any]) -> DeviceLoginFailed:
    return DeviceLoginFailed(
        str(body.get("error") or f"http_{status}"),
        str(body.get("error_description") or f"the server answered {status}"),
    )


def start(base_url: str) -> dict[str, Any]:
    status, body = _post(base_url, "device_code", {"client_id": CLIENT_ID, "device_label": platform.node() or None})
    if status != 200:
        raise _failed(status, body)
    return body


def wait_for_tokens(
    base_url: str, started: dict[str, Any], *, sleep: Callable[[float], None] = time.sleep
) -> dict[str, Any]:
    interval = float(started.get("interval", 5))
    deadline = time.monotonic() + float(started.get("expires_in", 600))
    while True:
        sleep(interval)
        status, body = _post(
            base_url,
            "token",
            {"grant_type": DEVICE_GRANT, "client_id": CLIENT_ID, "device_code": started["device_code"]},
        )
        if status == 200:
            return body
        error = body.get("error")
        if error == "slow_down":
            interval += 5
        elif error != "authorization_pending":
            raise _failed(status, body)
        if time.monotonic() + interval > deadline:
            raise DeviceLoginFailed("expired_token", "the code expired before it was approved")


def refresh(base_url: str, refresh_token: str) -> dict[str, Any]:
    status, body = _post(
        base_url, "token", {"grant_type": "refresh_token", "client_id": CLIENT_ID, "refresh_token": refresh_token}
    )
    if status != 200:
        raise _failed(status, body)
    return body


def credentials(tokens: dict[str, Any]) -> dict[str, Any]:
    """What the credentials file keeps: an absolute expiry, not the wire's ``expires_in``."""
    return {
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
        "expires_at": time.time() + float(tokens["expires_in"]),
    }
