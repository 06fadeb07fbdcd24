"""Wire models (pydantic). Field names, types and enums follow the sference API; unknown fields
are ignored, so newer servers stay readable."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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


StreamStatus = Literal["open", "cancelled", "archived"]
StreamWindow = Literal["1h", "24h"]


class Stream(BaseModel):
    """A stream; list items carry the first six fields, details all of them."""

    id: str
    name: str
    window: StreamWindow
    status: StreamStatus
    created_at: str
    updated_at: str
    cancelled_at: str | None = None
    archived_at: str | None = None
    total_items: int = 0
    pending_items: int = 0
    running_items: int = 0
    completed_items: int = 0
    failed_items: int = 0
    cancelled_items: int = 0
    completion_ratio: float = 0.0
    total_prompt_tokens: int = 0
    total_completion_tokens: int = 0
    total_tokens: int = 0
    last_completion_at: str | None = None
    latest_completion_id: str | None = None


class StreamList(BaseModel):
    items: list[Stream]
    has_more: bool = False
    next_before: str | None = None


ResponseStatus = Literal["in_progress", "completed", "failed", "cancelled", "incomplete"]
ReasoningFormat = Literal[
    "think_tag", "qwen_preamble", "provider_field", "anthropic_thinking", "openai_summary", "unknown"
]


class ResponseOutputText(BaseModel):
    type: Literal["output_text"]
    text: str


class ResponseOutputReasoning(BaseModel):
    type: Literal["reasoning"]
    text: str
    format: ReasoningFormat = "unknown"


ResponseOutputItem = Annotated[ResponseOutputText | ResponseOutputReasoning, Field(discriminator="type")]


class ResponseUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int


class ResponseError(BaseModel):
    code: str
    message: str


class Response(BaseModel):
    id: str
    object: Literal["response"] = "response"
    created_at: int
    model: str
    status: ResponseStatus
    output: list[ResponseOutputItem] | None = None
    error: ResponseError | None = None
    usage: ResponseUsage | None = None
    completed_at: int | None = None
    metadata: dict[str, Any] | None = None
    custom_id: str | None = None
    stream_id: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status != "in_progress"

    @property
    def output_text(self) -> str:
        """The generated text (all ``output_text`` items joined)."""
        return "".join(item.text for item in self.output or [] if isinstance(item, ResponseOutputText))


class ResponseListItem(BaseModel):
    id: str
    object: Literal["response"] = "response"
    created_at: int
    model: str
    status: ResponseStatus


class ResponseList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ResponseListItem]
    has_more: bool = False


class StreamInferenceCompletionEvent(BaseModel):
    """One completion on the events feed; ``completion_id`` is the cursor."""

    completion_id: str
    status: str
    response_id: str | None = None
    custom_id: str | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    completed_at: str | None = None


class StreamEventList(BaseModel):
    object: Literal["list"] = "list"
    data: list[StreamInferenceCompletionEvent]
    has_more: bool
