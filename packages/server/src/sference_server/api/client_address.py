"""The address a request came from, for per-address limits (sign-in, device sign-in).

The peer of the connection, unless that peer is one of ``SFERENCE_TRUSTED_PROXIES``: then the
right-most address of ``X-Forwarded-For`` that is not itself a trusted proxy (everything left of
it was written by the client and proves nothing). uvicorn does the resolving, configured by
``proxy_options``; by default it trusts no proxy (its own default trusts 127.0.0.1), so a client
cannot choose its own address by sending the header.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request


def proxy_options(trusted_proxies: str) -> dict[str, Any]:
    """uvicorn.Config arguments for ``SFERENCE_TRUSTED_PROXIES`` (checked by ``Settings``)."""
    trusted = ",".join(trusted_proxies.replace(",", " ").split())
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or None}


def client_address(request: Request) -> str:
    return request.client.host[:64] if request.client is not None else "unknown"
