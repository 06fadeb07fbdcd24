"""Webhook secrets and signatures (the Standard Webhooks scheme, standardwebhooks.com), and which
URLs deliveries may go to.

A secret is ``whsec_`` + base64 of 32 random bytes. Unlike an API key it is stored as it is: the
server needs it to sign every delivery (docs/security.md). A signature is ``v1,`` + base64 of
HMAC-SHA256(secret bytes, ``{webhook-id}.{webhook-timestamp}.{body}``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header of one attempt."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """Why ``url`` cannot be an endpoint, or None. Only the URL itself is judged here; a host
    name is resolved (and its addresses judged the same way) when a delivery is sent."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "must be an http:// or https:// URL"
    if not parts.hostname:
        return "has no host"
    if parts.username or parts.password:
        return "must not hold credentials"
    if port == 0:
        return "has port 0"
    if not allow_private:
        if parts.hostname.lower() == "localhost" or parts.hostname.lower().endswith(".localhost"):
            return "points to this machine (private addresses are refused: SFERENCE_WEBHOOK_ALLOW_PRIVATE)"
        try:
            address = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return None
        if not is_public(address):
            return f"points to a private address {address} (refused: SFERENCE_WEBHOOK_ALLOW_PRIVATE)"
    return None


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """An address on the internet: not loopback, private, link-local (cloud metadata services),
    multicast, reserved or unspecified. IPv4-mapped IPv6 addresses are judged as IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast
