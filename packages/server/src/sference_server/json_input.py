"""JSON and text from clients: the one checked parser for every untrusted body, line or field.

Two things are refused by name before they reach a service or the store:

- Nesting deeper than ``MAX_DEPTH``. The depth is measured by a scan of the raw bytes that skips
  strings (``DepthGuard``, also fed chunk by chunk as a body arrives), so nothing is built: a
  60 KB body nested 30,000 deep is refused in microseconds instead of taking gigabytes.
- A NUL character or an unpaired UTF-16 surrogate in any string (``\\u0000``, ``\\ud800``; raw
  ones are invalid JSON already). PostgreSQL cannot store the first, UTF-8 cannot encode the
  second; both are refused with the path of the string (``body.messages[0].content``) instead of
  being stored on one database and failing on the other.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import IO, Annotated, Any

from pydantic import AfterValidator

from .errors import BadRequest

MAX_DEPTH = 64

# A backslash and the byte it escapes.
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
# Everything but quotes and brackets: what is left of JSON text without its escapes is its skeleton.
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
# A whole string of the skeleton.
_STRING = re.compile(rb'"[^"]*"')
# Brackets as steps of depth: +1 for an opening one, -1 (0xff as a signed byte) for a closing one.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_OPEN = frozenset(b"[{")
# Escapes that may make a NUL or a lone surrogate; only texts holding one are searched string by string.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")


class InvalidJson(BadRequest):
    """Input that is not acceptable JSON; ``loc`` names where (``body``, ``line 3``, ``body.name``)."""

    def __init__(self, loc: str, message: str) -> None:
        super().__init__(f"{loc}: {message}", extra=[{"loc": loc, "message": message}])
        self.loc = loc
        self.message = message


class DepthGuard:
    """Measures the nesting depth of JSON text fed in pieces of any size, in linear time.

    Knows only brackets, strings and escapes: whether the text is valid JSON is the parser's job.
    A backslash escapes the next byte wherever it is (outside a string only invalid JSON has one,
    and a parser stops there). Each piece is reduced in C: escapes cut out, then everything but
    quotes and brackets, then whole strings; what is left are the brackets that count.
    """

    def __init__(self, where: str = "body", limit: int = MAX_DEPTH) -> None:
        self.where = where
        self.limit = limit
        self.depth = 0
        self._in_string = False
        self._escaped = False  # the piece ended on a backslash: the next piece's first byte is escaped

    def feed(self, data: bytes) -> None:
        if self._escaped and data:
            data, self._escaped = data[1:], False
        plain = _ESCAPE.sub(b"", data)
        if plain.endswith(b"\\"):  # the only backslash left: the byte it escapes is in the next piece
            plain, self._escaped = plain[:-1], True
        skeleton = plain.translate(None, _NOT_STRUCTURE)
        if self._in_string:
            skeleton = b'"' + skeleton
        brackets, quote, _ = _STRING.sub(b"", skeleton).partition(b'"')  # after a lone quote: a string going on
        self._in_string = bool(quote)
        self._count(brackets)

    def _count(self, brackets: bytes) -> None:
        """Follow the depth through brackets outside strings: the running sum of their steps,
        in C; byte by byte only where the text closes more than it opened (not JSON), which
        stops at depth 0 as a parser's error would."""
        if not brackets:
            return
        levels = list(accumulate(memoryview(brackets.translate(_STEPS)).cast("b"), initial=self.depth))
        if min(levels) >= 0:
            if max(levels) > self.limit:
                raise InvalidJson(self.where, f"JSON nested deeper than {self.limit} levels")
            self.depth = levels[-1]
            return
        for byte in brackets:
            if byte in _OPEN:
                self.depth += 1
                if self.depth > self.limit:
                    raise InvalidJson(self.where, f"JSON nested deeper than {self.limit} levels")
            elif self.depth:
                self.depth -= 1


def check_depth(data: bytes, where: str = "body", limit: int = MAX_DEPTH) -> None:
    DepthGuard(where, limit).feed(data)


def scan_file(source: IO[bytes], where: str = "body", chunk_bytes: int = 1 << 20) -> bool:
    """Check the depth of the JSON text in ``source`` (from its start) without parsing it, and
    say whether it may hold a NUL or a surrogate (``may_hold_bad_text``)."""
    guard, suspect, tail = DepthGuard(where), False, b""
    source.seek(0)
    for chunk in iter(lambda: source.read(chunk_bytes), b""):
        guard.feed(chunk)
        if not suspect:
            window = tail + chunk  # an escape may straddle chunks
            suspect = may_hold_bad_text(window)
            tail = window[-5:]
    source.seek(0)
    return suspect


def loads(data: bytes | str, where: str = "body") -> Any:
    """Parse ``data`` as JSON after checking its depth; refuse NULs and lone surrogates by path."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    check_depth(raw, where)
    try:
        value = json.loads(raw)
    except RecursionError as exc:  # only with a limit above Python's own recursion limit
        raise InvalidJson(where, "JSON nested too deeply") from exc
    except ValueError as exc:
        raise InvalidJson(where, f"not valid JSON: {exc}") from exc
    if may_hold_bad_text(raw):
        check_tree(value, where)
    return value


def may_hold_bad_text(raw: bytes) -> bool:
    """Whether JSON text has an escape that may be a NUL or a surrogate (false: it has neither)."""
    return _SUSPECT_ESCAPE.search(raw) is not None


def check_tree(value: Any, where: str) -> None:
    """Refuse the first key or string in ``value`` that holds a NUL or a lone surrogate."""
    path = bad_text_path(value, where)
    if path is not None:
        raise InvalidJson(path, "text may not contain NUL characters or unpaired surrogates")


def check_text(value: str, where: str) -> str:
    """A text field that did not come through JSON (a form field, a file name)."""
    if _BAD_CHARACTER.search(value):
        raise InvalidJson(where, "text may not contain NUL characters or unpaired surrogates")
    return value


def bad_text_path(value: Any, path: str) -> str | None:
    """The path (under ``path``) of the first key or string holding a NUL or a lone surrogate."""
    if isinstance(value, str):
        return path if _BAD_CHARACTER.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if _BAD_CHARACTER.search(key):
                return f"{path}.{key!r}" if path else repr(key)
            found = bad_text_path(item, inner)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = bad_text_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _plain(value: str) -> str:
    if _BAD_CHARACTER.search(value):
        raise ValueError("text may not contain NUL characters or unpaired surrogates")
    return value


# A text field of a request model: FastAPI answers 400 naming it when it holds a NUL or a surrogate.
PlainText = Annotated[str, AfterValidator(_plain)]
