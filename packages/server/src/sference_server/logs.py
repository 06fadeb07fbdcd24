"""The server's log: plain text or one JSON object a line, with the ids of what a line is about.

Code that handles one HTTP request or one item binds its ids (:func:`bound`) in a context variable,
so every line logged meanwhile carries them (``request_id``; ``item_id``, ``batch_id``,
``stream_id``) without passing them around. A line holds only the message and those ids: request
bodies, prompts, answers and keys are never given to the log.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

FORMATS = ("text", "json")

_fields: ContextVar[dict[str, str] | None] = ContextVar("sference_log_fields", default=None)


@contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """Lines logged inside carry ``fields`` (those not None), on top of the ones bound outside."""
    token = _fields.set({**(_fields.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _fields.reset(token)


def current() -> dict[str, str]:
    """The ids bound where this runs."""
    return dict(_fields.get() or {})


class ContextFields(logging.Filter):
    """Puts the bound ids on each record (``record.context``), in the thread that logs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "context"):
            record.context = current()
        return True


class JsonLines(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, the bound ids, fields passed
    as ``extra={"fields": {...}}``, and the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        created = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, object] = {
            "time": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "context", {}),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextLines(logging.Formatter):
    """``time LEVEL logger: message``, then the bound ids and fields as ``key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        pairs = {**getattr(record, "context", {}), **getattr(record, "fields", {})}
        if not pairs:
            return text
        first, newline, rest = text.partition("\n")  # after the message, before a traceback
        return f"{first} {' '.join(f'{k}={v}' for k, v in pairs.items())}{newline}{rest}"


def configure(level: str, fmt: str = "text") -> None:
    """The root logger writes ``fmt`` lines to stderr from ``level`` up (once per process)."""
    if fmt not in FORMATS:
        raise ValueError(f"the log format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if fmt == "json" else TextLines())
    handler.addFilter(ContextFields())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
