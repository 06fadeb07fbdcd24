"""Reading a batch document (``{"window": "24h", "requests": [{custom_id, body}, ...]}``) of any
size with flat memory: rows are parsed one at a time (ijson), validated, normalised to chat shape
and spilled to a temporary file. Nothing touches the store until every row passed, so a rejected
batch leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson

from ..domain.chat import FieldError
from ..domain.endpoints import ENDPOINTS as ROW_URLS
from ..domain.windows import BATCH_WINDOWS
from ..errors import BadRequest
from ..json_input import bad_text_path, scan_file
from .batch_rows import ParsedBatch, RowChecker, Validate, spill_file, spill_row

MAX_REPORTED_ERRORS = 100
ROW_FIELDS = frozenset({"custom_id", "body", "method", "url"})
BAD_TEXT = "text may not contain NUL characters or unpaired surrogates"


@dataclass
class RowError:
    index: int
    custom_id: Any
    error: FieldError

    def describe(self) -> str:
        who = f"requests[{self.index}]"
        if isinstance(self.custom_id, str):
            who += f" (custom_id {self.custom_id!r})"
        field = self.error.field
        return f"{who}: {field + ': ' if field and field != 'body' else ''}{self.error.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "custom_id": self.custom_id if isinstance(self.custom_id, str) else None,
            "loc": f"requests[{self.index}]" + (f".{self.error.field}" if self.error.field else ""),
            "message": self.error.message,
        }


class _Collector:
    def __init__(self) -> None:
        self.errors: list[RowError] = []
        self.total = 0

    def add(self, index: int, custom_id: Any, error: FieldError) -> None:
        self.total += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(index, custom_id, error))

    def raise_if_any(self) -> None:
        if not self.errors:
            return
        detail = self.errors[0].describe()
        if self.total > 1:
            detail += f" (and {self.total - 1} more error{'s' if self.total > 2 else ''}; see extra)"
        raise BadRequest(detail, extra=[e.to_json() for e in self.errors])


def parse_batch(
    source: IO[bytes], *, validate: Validate, max_requests: int, spill_dir: str | None = None
) -> ParsedBatch:
    """Validate a whole batch document. Raises BadRequest naming every bad row (up to 100)."""
    may_hold_bad_text = scan_file(source)  # the depth first: a parser would build what it reads
    window = _window(source)
    require_feasible = _require_feasible(source)
    collector = _Collector()
    checker = RowChecker(validate, where=lambda index: f"requests[{index}]")
    spill = spill_file(spill_dir)
    count = 0
    try:
        source.seek(0)
        for index, row in enumerate(_rows(source)):
            count = index + 1
            if count > max_requests:
                raise BadRequest(f"a batch may hold at most {max_requests} requests")
            text_problem = bad_text_path(row, "") if may_hold_bad_text else None
            if text_problem is not None:
                collector.add(index, None, FieldError(text_problem, BAD_TEXT))
                continue
            body, problems = _validate_row(row, index, checker)
            custom_id = row.get("custom_id") if isinstance(row, dict) else None
            for problem in problems:
                collector.add(index, custom_id, problem)
            if not collector.total and body is not None:
                spill_row(spill, custom_id, body)
        if count == 0:
            raise BadRequest("requests must be a non-empty list", extra=[{"loc": "requests", "message": "empty"}])
        collector.raise_if_any()
    except BaseException:
        spill.close()
        raise
    assert checker.model is not None
    spill.flush()
    return ParsedBatch(window=window, model=checker.model, count=count, rows=spill, require_feasible=require_feasible)


def _window(source: IO[bytes]) -> str:
    source.seek(0)
    head = source.read(64).lstrip()
    if not head.startswith(b"{"):
        raise BadRequest('the body must be a JSON object: {"window": "24h", "requests": [...]}')
    source.seek(0)
    try:
        window = next(ijson.items(source, "window"), "24h")
    except ijson.JSONError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(window, str) or window not in BATCH_WINDOWS:  # an object or list is no window either
        raise BadRequest(
            f"window must be one of {', '.join(repr(w) for w in BATCH_WINDOWS)}; got {window!r}",
            extra=[{"loc": "window", "message": "unsupported window"}],
        )
    return str(window)


def _require_feasible(source: IO[bytes]) -> bool:
    """The optional ``require_feasible`` flag (null reads as false). A pass of the C parser that
    builds nothing else: 3 s a gigabyte, little beside validating the rows."""
    source.seek(0)
    try:
        flag = next(ijson.items(source, "require_feasible"), False)
    except ijson.JSONError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc
    if flag is None:  # as if left out
        return False
    if not isinstance(flag, bool):
        raise BadRequest(
            f"require_feasible must be true or false; got {flag!r}",
            extra=[{"loc": "require_feasible", "message": "must be a boolean"}],
        )
    return flag


def _rows(source: IO[bytes]) -> Iterator[Any]:
    try:
        yield from ijson.items(source, "requests.item", use_float=True)
    except ijson.JSONError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from exc


def _validate_row(row: Any, index: int, checker: RowChecker) -> tuple[dict[str, Any] | None, list[FieldError]]:
    if not isinstance(row, dict):
        return None, [FieldError("", "each request must be an object with custom_id and body")]
    problems = [FieldError(key, "unknown field (expected custom_id and body)") for key in row if key not in ROW_FIELDS]
    problems += checker.custom_id(index, row.get("custom_id"))
    if "url" in row and row["url"] not in ROW_URLS:
        problems.append(FieldError("url", f"must be one of {', '.join(ROW_URLS)}"))
    if "method" in row and row["method"] != "POST":
        problems.append(FieldError("method", "must be POST"))
    if "body" not in row:
        problems.append(FieldError("body", "is required"))
        return None, problems
    body, body_problems = checker.body(row["body"])
    return body, problems + body_problems
