"""Rendering console pages: Jinja2 templates shipped in the package, autoescaped."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from ..api.security_headers import CONSOLE_CSP
from ..timeutil import iso


def _when(value: object) -> str:
    """A Unix time or an ISO string as ``2026-11-27 14:52:32`` (UTC)."""
    if value is None or value == "":
        return "—"
    text = iso(float(value)) if isinstance(value, int | float) else str(value)
    return (text or "")[:19].replace("T", " ")


_env = Environment(loader=PackageLoader("sference_server.console", "templates"), autoescape=select_autoescape())
_env.filters["when"] = _when

# The rest (nosniff, framing, referrer, HSTS) comes from the middleware of api/security_headers.py.
SECURITY_HEADERS = {"Content-Security-Policy": CONSOLE_CSP, "Cache-Control": "no-store"}


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("user", getattr(request.state, "console_user", None))
    context.setdefault("path", request.url.path)
    html = _env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
