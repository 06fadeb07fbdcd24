"""Wire models (pydantic). Field names, types and enums follow the sference API; unknown fields
are ignored, so newer servers stay readable."""

from __future__ import annotations

import struct
from base64 import b64decode
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

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
    retry_of: str | None = None  # the batch whose unfinished rows this one re-runs
    # While queued or running: when the server expects it to finish (None: unknown or finished).
    estimated_completion_at: str | None = None
    # Only in the answer to a submission: whether that estimate fits the window (None: unknown).
    feasible: bool | None = None

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
    estimated_completion_at: str | None = None  # while requests are queued or running, when known


class StreamList(BaseModel):
    items: list[Stream]
    has_more: bool = False
    next_before: str | None = None


ResponseStatus = Literal["queued", "in_progress", "completed", "failed", "cancelled", "incomplete"]
ACTIVE_RESPONSE_STATUSES: tuple[ResponseStatus, ...] = ("queued", "in_progress")
ReasoningFormat = Literal[
    "think_tag", "qwen_preamble", "provider_field", "anthropic_thinking", "openai_summary", "unknown"
]

# ``/v1/responses`` output items come in the shapes of two API versions (docs/versions.md):
#   2025-10-01  flat: {"type": "output_text", "text"}, {"type": "reasoning", "text", "format"}
#   2026-11-01  OpenAI Responses: {"type": "message", "content": [{"type": "output_text", ...}]},
#               {"type": "reasoning", "id", "summary": [{"type": "summary_text", "text"}]},
#               {"type": "function_call", ...}
# One set of models reads both; an item of a type neither knows is kept as ``ResponseOutputOther``.


class ResponseOutputText(BaseModel):
    """Text: an output item of its own (2025-10-01) or a content part of a ``message`` (2026-11-01)."""

    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[Any] = Field(default_factory=list)


class ResponseOutputRefusal(BaseModel):
    type: Literal["refusal"] = "refusal"
    refusal: str


ResponseContentPart = Annotated[ResponseOutputText | ResponseOutputRefusal, Field(discriminator="type")]


class ResponseOutputMessage(BaseModel):
    """The assistant's message (2026-11-01): its text is in ``content`` parts."""

    type: Literal["message"] = "message"
    id: str
    role: Literal["assistant"] = "assistant"
    status: Literal["completed", "in_progress", "incomplete"] = "completed"
    content: list[ResponseContentPart] = Field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(part.text for part in self.content if isinstance(part, ResponseOutputText))


class ResponseReasoningSummaryPart(BaseModel):
    type: Literal["summary_text"] = "summary_text"
    text: str


class ResponseOutputReasoning(BaseModel):
    """Reasoning: flat ``text`` with its ``format`` (2025-10-01) or a ``summary`` of parts (2026-11-01)."""

    type: Literal["reasoning"] = "reasoning"
    id: str | None = None
    text: str = ""
    format: ReasoningFormat = "unknown"
    summary: list[ResponseReasoningSummaryPart] = Field(default_factory=list)

    @property
    def plaintext(self) -> str:
        return self.text or "".join(part.text for part in self.summary)


def reasoning_summary_plaintext(item: ResponseOutputReasoning) -> str:
    """The reasoning's text, whichever version's shape it came in (sference-sdk 0.3.2's helper)."""
    return item.plaintext


class ResponseFunctionToolCall(BaseModel):
    type: Literal["function_call"] = "function_call"
    id: str
    call_id: str
    name: str
    arguments: str = "{}"
    status: Literal["completed", "in_progress", "incomplete"] = "completed"


class ResponseOutputOther(BaseModel):
    """An output item of a type this SDK does not know; every field is kept."""

    model_config = ConfigDict(extra="allow")

    type: str


_KNOWN_ITEM_TYPES = frozenset({"output_text", "message", "reasoning", "function_call"})


def _item_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in _KNOWN_ITEM_TYPES else "other"


ResponseOutputItem = Annotated[
    Annotated[ResponseOutputText, Tag("output_text")]
    | Annotated[ResponseOutputMessage, Tag("message")]
    | Annotated[ResponseOutputReasoning, Tag("reasoning")]
    | Annotated[ResponseFunctionToolCall, Tag("function_call")]
    | Annotated[ResponseOutputOther, Tag("other")],
    Discriminator(_item_tag),
]


class ResponseInputTokensDetails(BaseModel):
    cached_tokens: int = 0


class ResponseOutputTokensDetails(BaseModel):
    reasoning_tokens: int = 0


class ResponseUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: ResponseInputTokensDetails | None = None
    output_tokens_details: ResponseOutputTokensDetails | None = None


class ResponseError(BaseModel):
    code: str
    message: str


class ResponseIncompleteDetails(BaseModel):
    """Why a response is ``incomplete``: ``max_output_tokens`` (cut at the length limit) or
    ``content_filter``."""

    reason: str


class Response(BaseModel):
    """One ``/v1/responses`` object, in the shape of either API version."""

    id: str
    object: Literal["response"] = "response"
    created_at: int
    model: str
    status: ResponseStatus
    incomplete_details: ResponseIncompleteDetails | None = None
    output: list[ResponseOutputItem] | None = None
    error: ResponseError | None = None
    usage: ResponseUsage | None = None
    completed_at: int | None = None
    metadata: dict[str, Any] | None = None
    custom_id: str | None = None
    stream_id: str | None = None

    @property
    def is_terminal(self) -> bool:
        """Completed, failed, cancelled or incomplete: it will not change any more."""
        return self.status not in ACTIVE_RESPONSE_STATUSES

    @property
    def output_text(self) -> str:
        """The generated text: flat ``output_text`` items and the text parts of ``message`` items, joined."""
        pieces: list[str] = []
        for item in self.output or []:
            if isinstance(item, ResponseOutputText | ResponseOutputMessage):
                pieces.append(item.text)
        return "".join(pieces)

    @property
    def reasoning_text(self) -> str:
        """The reasoning the response carries (empty when none was asked for or made)."""
        return "".join(item.plaintext for item in self.output or [] if isinstance(item, ResponseOutputReasoning))


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


# -- models (GET /v1/models) ---------------------------------------------------------------

ModelModality = Literal["text_generation", "text_embedding", "decisions"]


class ModelInfo(BaseModel):
    """One served model. ``modality`` says which endpoint takes it: ``text_generation``
    (responses, chat, batches), ``text_embedding`` (embeddings) or ``decisions``. Fields this
    SDK does not name (``max_model_len``, ...) are kept."""

    model_config = ConfigDict(extra="allow")

    id: str
    object: Literal["model"] = "model"
    created: int | None = None
    owned_by: str | None = None
    display_name: str | None = None
    modality: str | None = None
    context_tokens: int | None = None
    capabilities: dict[str, Any] = Field(default_factory=dict)


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelInfo]


# -- embeddings (POST /v1/embeddings) ------------------------------------------------------

EmbeddingEncodingFormat = Literal["float", "base64"]


class EmbeddingData(BaseModel):
    """One input's vector: a list of floats, or with ``encoding_format="base64"`` the
    little-endian float32 bytes in base64 (``vector`` decodes either)."""

    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str

    @property
    def vector(self) -> list[float]:
        if isinstance(self.embedding, str):
            return decode_embedding(self.embedding)
        return list(self.embedding)


def decode_embedding(encoded: str) -> list[float]:
    """Floats from a base64 embedding (little-endian float32, as OpenAI's API sends them)."""
    raw = b64decode(encoded, validate=True)
    if len(raw) % 4:
        raise ValueError(f"a base64 embedding must hold whole float32 values; got {len(raw)} bytes")
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingData]
    model: str
    usage: EmbeddingUsage | None = None

    def vectors(self) -> list[list[float]]:
        """Every input's vector as floats, in input order."""
        return [item.vector for item in sorted(self.data, key=lambda item: item.index)]


# -- decisions (POST /v1/decisions) --------------------------------------------------------


class ChoiceQuestion(BaseModel):
    """Pick one of ``criteria`` (label -> what it means)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["choice"] = "choice"
    instructions: Any = ""
    criteria: dict[str, Any]


class ScoreQuestion(BaseModel):
    """Rate on the ordinal scale ``criteria`` (index 0 is the lowest)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["score"] = "score"
    instructions: Any = ""
    criteria: list[Any]


class NoulQuestion(BaseModel):
    """How likely the answer is yes; ``criteria`` may describe the ``"true"``/``"false"`` cases."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["noul"] = "noul"
    instructions: Any = ""
    criteria: dict[Literal["true", "false"], Any] | None = None


DecisionQuestion = Annotated[ChoiceQuestion | ScoreQuestion | NoulQuestion, Field(discriminator="type")]


class DecisionImage(BaseModel):
    """A PNG, JPEG or WebP image sent inline (base64)."""

    model_config = ConfigDict(extra="forbid")

    content_type: Literal["image/png", "image/jpeg", "image/webp"]
    base64: str


class ChoiceAnswer(BaseModel):
    type: Literal["choice"] = "choice"
    choice: str
    confidence: float
    probabilities: dict[str, float] = Field(default_factory=dict)


class ScoreAnswer(BaseModel):
    type: Literal["score"] = "score"
    score: float
    confidence: float
    legend: dict[str, Any] = Field(default_factory=dict)
    probabilities: dict[str, float] = Field(default_factory=dict)


class NoulAnswer(BaseModel):
    """``noul``: the probability that the answer is yes (true)."""

    type: Literal["noul"] = "noul"
    noul: float


DecisionAnswer = Annotated[ChoiceAnswer | ScoreAnswer | NoulAnswer, Field(discriminator="type")]


class DecisionUsage(BaseModel):
    input_tokens: int
    output_tokens: int = 0


class DecisionResponse(BaseModel):
    model: str
    answers: dict[str, DecisionAnswer]
    usage: DecisionUsage | None = None
