"""Wire models (pydantic). Field names, types and enums follow the sference API; unknown fields
are ignored, so newer servers stay readable."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

BatchStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
TERMINAL_BATCH_STATUSES: tuple[BatchStatus, ...] = ("completed", "failed", "cancelled")


class RequestCounts(BaseModel):
    total: int = 0
    queued: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    expired: int = 0

    @property
    def finished(self) -> int:
        return self.completed + self.failed + self.cancelled + self.expired


class ErrorInfo(BaseModel):
    code: str
    message: str


class Batch(BaseModel):
    id: str
    status: BatchStatus
    window: Literal["24h"]
    request_count: int
    created_at: str
    updated_at: str
    completed_at: str | None = None
    total_prompt_tokens: int = 0
    total_completion_tokens: int = 0
    total_tokens: int = 0
    # Served by sference-server; absent on older servers.
    model: str | None = None
    started_at: str | None = None
    cancelled_at: str | None = None
    expires_at: str | None = None
    request_counts: RequestCounts | None = None
    error: ErrorInfo | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_BATCH_STATUSES


class BatchList(BaseModel):
    items: list[Batch]
    has_more: bool = False
    next_before: str | None = None


class BatchResultRow(BaseModel):
    model_config = ConfigDict(extra="allow")

    custom_id: str | None = None
    status: str
    result_json: dict[str, Any] | None = None
    error_json: dict[str, Any] | None = None

    @property
    def completion_text(self) -> str | None:
        """``result_json.choices[0].message.content`` of a completed row."""
        if self.status != "completed" or not self.result_json:
            return None
        try:
            return str(self.result_json["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError):
            return None


class BatchResults(BaseModel):
    batch_id: str
    status: BatchStatus
    output_url: str | None = None
    completed_at: str | None = None
    results: list[dict[str, Any]] | None = None

    def rows(self) -> list[BatchResultRow]:
        return [BatchResultRow.model_validate(r) for r in self.results or []]

    def index_by_custom_id(self) -> dict[str | None, BatchResultRow]:
        return {row.custom_id: row for row in self.rows()}


class InferenceRequest(BaseModel):
    """One batch row: ``custom_id`` (or null) and a chat or Responses body."""

    model_config = ConfigDict(extra="forbid")

    custom_id: str | None = None
    body: dict[str, Any]


class LoginResponse(BaseModel):
    access_token: str
    token_type: str
    user: dict[str, str]
