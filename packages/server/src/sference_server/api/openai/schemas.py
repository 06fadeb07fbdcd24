"""What the OpenAI-compatible surface answers (render/openai_*.py): File, Batch, chat
completion, Response and model objects, in OpenAI's shapes."""

from __future__ import annotations

from typing import Any, Literal

from ..openapi import CHAT, RESPONSE_REQUEST, STRING, ItemError, Wire, json_body, obj
from ..responses.schemas import IncompleteDetails, MessageItem


class File(Wire):
    id: str
    object: Literal["file"]
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["processed"]
    status_details: None
    expires_at: None


class FilePage(Wire):
    object: Literal["list"]
    data: list[File]
    has_more: bool
    first_id: str | None
    last_id: str | None


class FileDeleted(Wire):
    id: str
    object: Literal["file"]
    deleted: Literal[True]


class OpenAIBatchErrors(Wire):
    object: Literal["list"]
    data: list[dict[str, Any]]  # each names the input line and what is wrong with it


class OpenAIBatchRequestCounts(Wire):
    total: int
    completed: int
    failed: int


class OpenAIBatch(Wire):
    id: str
    object: Literal["batch"]
    endpoint: str
    errors: OpenAIBatchErrors | None
    input_file_id: str
    completion_window: str
    status: Literal["in_progress", "completed", "expired", "failed", "cancelled"]
    output_file_id: str | None
    error_file_id: str | None
    created_at: int
    in_progress_at: int | None
    expires_at: int | None
    finalizing_at: int | None
    completed_at: int | None
    failed_at: int | None
    expired_at: int | None
    cancelling_at: int | None
    cancelled_at: int | None
    request_counts: OpenAIBatchRequestCounts
    usage: dict[str, Any]
    metadata: dict[str, str] | None
    model: str | None


class OpenAIBatchPage(Wire):
    object: Literal["list"]
    data: list[OpenAIBatch]
    has_more: bool
    first_id: str | None
    last_id: str | None


class FunctionCall(Wire):
    name: str
    arguments: str


class ToolCall(Wire):
    id: str
    type: Literal["function"]
    function: FunctionCall


class ChatMessage(Wire):
    role: Literal["assistant"]
    content: str | None
    tool_calls: list[ToolCall] | None = None


class Choice(Wire):
    index: int
    message: ChatMessage
    logprobs: None
    finish_reason: str


class ChatUsage(Wire):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: dict[str, int]


class ChatCompletion(Wire):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: ChatUsage


class OpenAIResponse(Wire):
    """OpenAI's Response (whatever the API version)."""

    id: str
    object: Literal["response"]
    created_at: int
    status: Literal["queued", "in_progress", "completed", "incomplete", "failed", "cancelled"]
    background: bool
    model: str
    output: list[MessageItem]
    output_text: str
    usage: dict[str, Any] | None
    error: ItemError | None
    incomplete_details: IncompleteDetails | None
    instructions: None
    max_output_tokens: int | None
    temperature: float | None
    top_p: float | None
    metadata: dict[str, Any]
    parallel_tool_calls: bool
    tool_choice: str
    tools: list[Any]
    text: dict[str, Any]


class OpenAIModel(Wire):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    max_model_len: int
    modality: Literal["text_generation", "text_embedding", "decisions"]


class OpenAIModelList(Wire):
    object: Literal["list"]
    data: list[OpenAIModel]


FILE_CONTENT = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}

CHAT_BODY = json_body(CHAT)
RESPONSE_BODY = json_body(RESPONSE_REQUEST)
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": obj(("file", "purpose"), file={"type": "string", "format": "binary"}, purpose=STRING)
            }
        },
    }
}
