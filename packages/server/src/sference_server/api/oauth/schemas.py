"""What the device sign-in routes answer (RFC 8628 and RFC 6749)."""

from __future__ import annotations

from ..openapi import Wire


class DeviceCode(Wire):
    device_code: str
    user_code: str
    verification_uri: str
    expires_in: int
    interval: int


class Tokens(Wire):
    access_token: str
    token_type: str
    expires_in: int
    refresh_token: str
