"""NUL characters in URLs and console forms, found before routing (``BodyLimits`` refuses them).

PostgreSQL cannot hold a NUL in text, and no id, query parameter or form field of ours has one,
so one is refused with 400 naming where it is, on every database alike. JSON bodies are checked
by the JSON parser instead (json_input.py); percent-decoding never makes a lone surrogate.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import Scope

from ..errors import BadRequest

MESSAGE = "text may not contain NUL characters"


def refusal(loc: str) -> BadRequest:
    return BadRequest(f"{loc}: {MESSAGE}", extra=[{"loc": loc, "message": MESSAGE}])


def nul_in_url(scope: Scope) -> BadRequest | None:
    if "\x00" in scope["path"]:
        return refusal("path")
    query: bytes = scope.get("query_string", b"")
    if b"\x00" in query or b"%00" in query:
        for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in key or "\x00" in value:
                return refusal(f"query.{key}" if "\x00" not in key else "query")
    return None


class FormText:
    """Fed a console form's body as it arrives; at its end, refuses a NUL in any field."""

    def __init__(self, content_type: str) -> None:
        self.urlencoded = content_type.startswith("application/x-www-form-urlencoded")
        self.body = bytearray()

    def feed(self, chunk: bytes, more: bool) -> None:
        self.body += chunk
        if more or not (b"\x00" in self.body or b"%00" in self.body):
            return
        if not self.urlencoded:  # multipart: a NUL in the body at all (no console form uploads files)
            raise refusal("form")
        for key, value in parse_qsl(self.body.decode("latin-1"), keep_blank_values=True):
            if "\x00" in key or "\x00" in value:
                raise refusal(key if "\x00" not in key else "form")
