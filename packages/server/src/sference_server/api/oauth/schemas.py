"""What the device sign-in routes answer (RFC 8628 and RFC 6749)."""

from __future__ import annotations

from ..openapi import STRING, Wire, json_body, obj


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


DEVICE_CODE_BODY = json_body(obj(("client_id",), client_id=STRING, device_label=STRING), form=True)
TOKEN_BODY = json_body(
    obj(
        ("grant_type", "client_id"),
        grant_type={"enum": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]},
        client_id=STRING,
        device_code=STRING,
        refresh_token=STRING,
    ),
    form=True,
)
