"""The checks every batch row passes, whichever API sent it (sference's inline batches or an
OpenAI batch input file), and where accepted rows wait until the whole batch is validated."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from ..compact_json import compact
from ..domain.chat import MODEL_NOT_FOUND, FieldError

MAX_CUSTOM_ID_LENGTH = 512

# ``Lifecycle.validate``: a body in normalised chat shape, or every problem (paths under ``context``).
Validate = Callable[..., tuple[dict[str, Any] | None, list[FieldError]]]


class RowChecker:
    """One model for the whole batch (served here), unique custom_ids, a valid body."""

    def __init__(self, validate: Validate, *, where: Callable[[int], str]) -> None:
        self.validate = validate
        self.model: str | None = None
        self._model_refused = False  # an unserved model is reported once, not on every row
        self._seen: dict[str, int] = {}
        self._where = where  # how a row is named in messages: "requests[3]", "line 4"

    def custom_id(self, index: int, custom_id: Any, *, required: bool = False) -> list[FieldError]:
        if custom_id is None:
            return [FieldError("custom_id", "is required")] if required else []
        if not isinstance(custom_id, str):
            return [FieldError("custom_id", "must be a string" + ("" if required else " or null"))]
        if len(custom_id) > MAX_CUSTOM_ID_LENGTH:
            return [FieldError("custom_id", f"must be at most {MAX_CUSTOM_ID_LENGTH} characters")]
        if custom_id in self._seen:
            first = self._where(self._seen[custom_id])
            return [FieldError("custom_id", f"duplicate custom_id {custom_id!r} (first used by {first})")]
        self._seen[custom_id] = index
        return []

    def body(self, raw: Any) -> tuple[dict[str, Any] | None, list[FieldError]]:
        chat, problems = self.validate(raw, context="body")
        model = raw.get("model") if isinstance(raw, dict) else None
        if not (isinstance(model, str) and model.strip()):
            return chat, problems
        if self.model is None:
            self.model = model
        elif model != self.model:
            problems = [p for p in problems if p.code != MODEL_NOT_FOUND]
            message = (
                f"model {model!r} differs from {self.model!r} used by the first row; "
                "all rows of a batch must use one model"
            )
            problems.append(FieldError("body.model", message))
        if any(p.code == MODEL_NOT_FOUND for p in problems):
            if self._model_refused:
                problems = [p for p in problems if p.code != MODEL_NOT_FOUND]
            self._model_refused = True
        return (chat if not problems else None), problems


@dataclass
class ParsedBatch:
    """Validated rows, spilled to a temporary file: a line per row, the custom_id as JSON, a tab,
    and the normalised body as JSON text (JSON text never holds a raw tab), so the body is
    serialised once and inserted as it is."""

    window: str
    model: str
    count: int
    rows: IO[str]
    require_feasible: bool = False  # refuse (409) a batch estimated to miss its window

    def iter_rows(self) -> Iterator[tuple[str | None, str]]:
        """``(custom_id, chat body as JSON text)`` in input order."""
        self.rows.seek(0)
        for line in self.rows:
            custom_id, body = line.rstrip("\n").split("\t", 1)
            yield json.loads(custom_id), body

    def close(self) -> None:
        self.rows.close()


def spill_file(spill_dir: str | None = None) -> IO[str]:
    return tempfile.TemporaryFile("w+", encoding="utf-8", dir=spill_dir)


def spill_row(spill: IO[str], custom_id: str | None, body: dict[str, Any]) -> None:
    spill.write(f"{json.dumps(custom_id)}\t{compact(body)}\n")
