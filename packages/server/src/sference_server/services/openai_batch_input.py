"""Checking an OpenAI batch input file line by line, the way OpenAI does: JSON objects with a
unique ``custom_id``, ``method: POST``, the batch's ``url``, and a valid ``body``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .. import json_input
from ..store.files import LineTooLong
from .batch_rows import ParsedBatch, RowChecker, Validate, spill_file, spill_row

MAX_REPORTED = 100


class InvalidInput(Exception):
    """The file cannot become a batch; ``errors`` are OpenAI ``{code, line, message, param}``."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"])
        self.errors = errors


def check_input(lines: Iterator[bytes], *, endpoint: str, validate: Validate, max_requests: int) -> ParsedBatch:
    checker = RowChecker(validate, where=lambda index: f"line {index}")
    errors: list[dict[str, Any]] = []
    spill = spill_file()
    count = 0

    def problem(code: str, line: int, message: str, param: str | None = None) -> None:
        if len(errors) < MAX_REPORTED:
            errors.append({"code": code, "line": line, "message": message, "param": param})

    try:
        for number, raw in _numbered(lines, problem):
            if not raw.strip():
                continue
            count += 1
            if count > max_requests:
                problem("too_many_requests", number, f"a batch may hold at most {max_requests} requests")
                break
            try:
                record = json_input.loads(raw, f"line {number}")
            except json_input.InvalidJson as exc:
                problem("invalid_json_line", number, exc.detail, exc.loc.partition(".")[2] or None)
                continue
            if not isinstance(record, dict):
                problem("invalid_request", number, f"line {number} must be a JSON object")
                continue
            for field in checker.custom_id(number, record.get("custom_id"), required=True):
                code = "duplicate_custom_id" if "duplicate" in field.message else "missing_required_parameter"
                problem(code, number, f"custom_id {field.message}", "custom_id")
            if record.get("method") != "POST":
                problem("invalid_method", number, f"method must be POST, got {record.get('method')!r}", "method")
            if record.get("url") != endpoint:
                problem(
                    "mismatched_url",
                    number,
                    f"url {record.get('url')!r} does not match the batch endpoint {endpoint!r}",
                    "url",
                )
            body, body_problems = checker.body(record.get("body"))
            for field in body_problems:
                problem("invalid_body", number, f"{field.field}: {field.message}", field.field)
            if not errors and body is not None:
                spill_row(spill, record["custom_id"], body)
        if count == 0 and not errors:
            problem("empty_file", 0, "the input file has no requests")
        if errors:
            raise InvalidInput(errors)
    except BaseException:
        spill.close()
        raise
    assert checker.model is not None
    spill.flush()
    return ParsedBatch(window="24h", model=checker.model, count=count, rows=spill)


def _numbered(lines: Iterator[bytes], problem: Any) -> Iterator[tuple[int, bytes]]:
    """The lines with their numbers; a line over the length limit is a problem that ends the file."""
    try:
        yield from enumerate(lines, start=1)
    except LineTooLong as exc:
        problem("line_too_long", exc.line, f"{exc} (SFERENCE_MAX_LINE_BYTES)")
