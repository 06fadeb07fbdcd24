"""Reading request files: one JSON object per line, in either shape.

1. OpenAI batch envelope: ``{"custom_id"?, "method", "url", "body"}``; the body carries its model.
   (``{"custom_id", "body"}`` without method and url is read the same way.)
2. Content only: ``{"content": "...", "custom_id"?}``; the model comes from the caller, and
   ``custom_id`` defaults to ``request-N`` (N = the 1-based line number).

Blank lines are skipped but keep their number. Files are read line by line, never whole.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .models import InferenceRequest


class JsonlError(ValueError):
    """A request file that cannot be sent; the message names the line."""


def iter_requests(path: str | Path, model: str | None = None) -> Iterator[InferenceRequest]:
    warned = False
    count = 0
    with open(path, encoding="utf-8") as lines:
        for number, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise JsonlError(f"Invalid JSON on line {number} of {path}: {exc.msg} (column {exc.colno})") from exc
            if not isinstance(record, dict):
                raise JsonlError(f"Unsupported JSONL line format at line {number}: expected a JSON object")
            if "body" in record and ("method" in record or "url" in record or set(record) <= {"custom_id", "body"}):
                if model is not None and not warned:
                    warnings.warn("model argument is ignored for OpenAI-compatible JSONL lines", UserWarning, 3)
                    warned = True
                yield _envelope(record, number)
            elif "content" in record:
                yield _content_only(record, number, model)
            else:
                raise JsonlError(
                    f"Unsupported JSONL line format at line {number}: "
                    "expected {custom_id, method, url, body} or {content}"
                )
            count += 1
    if count == 0:
        raise JsonlError(f"At least one request is required; {path} has no requests")


def parse_requests(path: str | Path, model: str | None = None) -> list[InferenceRequest]:
    return list(iter_requests(path, model))


def _envelope(record: dict[str, Any], number: int) -> InferenceRequest:
    body = record["body"]
    if not isinstance(body, dict) or not body.get("model"):
        raise JsonlError(f"Invalid JSONL line {number}: body.model is required")
    custom_id = record.get("custom_id")
    if custom_id is not None and not isinstance(custom_id, str):
        raise JsonlError(f"Invalid JSONL line {number}: custom_id must be a string")
    return InferenceRequest(custom_id=custom_id, body=body)


def _content_only(record: dict[str, Any], number: int, model: str | None) -> InferenceRequest:
    if not model:
        raise JsonlError("model is required for content-only JSONL format (pass --model)")
    custom_id = record.get("custom_id", f"request-{number}")
    if custom_id is not None and not isinstance(custom_id, str):
        raise JsonlError(f"Invalid JSONL line {number}: custom_id must be a string")
    return InferenceRequest(
        custom_id=custom_id, body={"model": model, "messages": [{"role": "user", "content": record["content"]}]}
    )
