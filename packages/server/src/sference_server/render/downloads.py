"""The ``Content-Disposition`` of a download, for any file name (RFC 6266).

The name travels twice: ``filename*`` carries it exactly (UTF-8, percent-encoded, RFC 8187/5987),
and ``filename`` an ASCII stand-in for old clients, in which anything that is not a printable
ASCII character, or is a quote, backslash, semicolon or percent sign, becomes ``_``. So neither
quotes, semicolons nor line breaks in a name can end the header or add a parameter.
"""

from __future__ import annotations

from urllib.parse import quote

_UNSAFE_IN_FALLBACK = frozenset('"\\;%')


def attachment(filename: str) -> str:
    fallback = "".join(c if " " <= c <= "~" and c not in _UNSAFE_IN_FALLBACK else "_" for c in filename)
    exact = quote(filename, safe="", encoding="utf-8", errors="replace")
    return f"attachment; filename=\"{fallback or 'download'}\"; filename*=UTF-8''{exact}"
