"""The SDK client each command uses."""

from __future__ import annotations

from sference_sdk import SferenceClient

from .errors import NO_CREDENTIAL, fail
from .settings import api_key, base_url


def make_client(base_url_option: str | None, *, require_key: bool = True) -> SferenceClient:
    key = api_key()
    if require_key and not key:
        fail(NO_CREDENTIAL)
    return SferenceClient(base_url=base_url(base_url_option), api_key=key)
