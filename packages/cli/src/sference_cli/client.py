"""The SDK client each command uses."""

from __future__ import annotations

from sference_sdk import SferenceClient

from .errors import NO_CREDENTIAL, fail
from .settings import CredentialOfAnotherServer, api_key, api_version, base_url


def make_client(base_url_option: str | None, *, require_key: bool = True) -> SferenceClient:
    url = base_url(base_url_option)
    try:
        key = api_key(url)
    except CredentialOfAnotherServer as exc:
        fail(str(exc))
    if require_key and not key:
        fail(NO_CREDENTIAL)
    return SferenceClient(base_url=url, api_key=key, api_version=api_version())
