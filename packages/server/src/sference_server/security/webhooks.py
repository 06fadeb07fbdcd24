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

import httpx

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
    problem = _host_problem(url, parts.hostname)
    if problem is not None:
        return problem
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


def _host_problem(url: str, host: str) -> str | None:
    """Why the URL's host cannot be sent to, whichever way the deliverer reads it: httpx (the
    request) or the standard library's IDNA codec (the lookup that checks addresses), where a
    label longer than 63 characters raises at delivery what no URL check had seen."""
    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        return f"is not a valid URL ({exc})"
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    try:
        host.encode("idna")
    except UnicodeError as exc:
        return f"has a host name that is not valid: {exc} (each dot-separated label is 1 to 63 characters)"
    return None


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291, deprecated


def is_public(address: IPAddress) -> bool:
    """An address on the internet: not loopback, private, link-local (cloud metadata services),
    multicast, reserved or unspecified. An IPv6 address that carries an IPv4 address a packet ends
    up at (IPv4-mapped or -compatible, NAT64, 6to4, Teredo) is public only if that IPv4 address
    is too: ``64:ff9b::a9fe:a9fe`` reaches 169.254.169.254 through a NAT64 gateway, yet Python
    3.12 calls it global. The local-use NAT64 prefix is a network of its operator's (RFC 8215),
    never public, whatever its layout."""
    if isinstance(address, ipaddress.IPv4Address):
        return _global(address)
    return address not in _NAT64_LOCAL and _global(address) and all(_global(v4) for v4 in embedded_ipv4(address))


def _global(address: IPAddress) -> bool:
    return address.is_global and not address.is_multicast


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses inside ``address`` that a translator or tunnel sends to (none for a
    plain IPv6 address). NAT64 addresses are read with the /96 layout (RFC 6052), the one the
    well-known prefix has."""
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if address.teredo is not None:
        return address.teredo  # (server, client)
    if address in _NAT64_WELL_KNOWN or address in _NAT64_LOCAL or address in _IPV4_COMPATIBLE:
        return (ipaddress.IPv4Address(address.packed[12:]),)
    return ()
