"""OpenAI's Files and Batch API shapes: File, Batch, and the lines of a batch's output and error
files."""

from __future__ import annotations

import json
from typing import Any

from ..domain.endpoints import RESPONSES_ENDPOINT
from ..domain.states import BatchStatus, OpenAIBatchStatus
from ..store.records import FileRecord, Item, OpenAIBatch
from ..timeutil import unix
from .answers import answer
from .openai_responses import response_object


def file_object(file: FileRecord) -> dict[str, Any]:
    return {
        "id": file.id,
        "object": "file",
        "bytes": file.bytes if file.bytes is not None else 0,
        "created_at": unix(file.created_at),
        "filename": file.filename,
        "purpose": file.purpose,
        "status": "processed",
        "status_details": None,
        "expires_at": None,
    }


def batch_status(record: OpenAIBatch) -> OpenAIBatchStatus:
    """Our batch status in OpenAI's words: validation failures are ``failed``; a window that ran
    out is ``expired`` (finished rows are still in the output); rows failing one by one leave
    the batch ``completed``, with them in the error file."""
    status = record.batch.status
    if status in (BatchStatus.PENDING, BatchStatus.RUNNING):
        return OpenAIBatchStatus.IN_PROGRESS
    if status == BatchStatus.CANCELLING:
        return OpenAIBatchStatus.CANCELLING
    if status == BatchStatus.CANCELLED:
        return OpenAIBatchStatus.CANCELLED
    if record.errors:
        return OpenAIBatchStatus.FAILED
    return OpenAIBatchStatus.EXPIRED if record.batch.counts.expired_count else OpenAIBatchStatus.COMPLETED


def batch_object(record: OpenAIBatch) -> dict[str, Any]:
    batch, counts, errors = record.batch, record.batch.counts, record.errors
    status = batch_status(record)
    finished = unix(batch.completed_at)
    return {
        "id": batch.id,
        "object": "batch",
        "endpoint": record.endpoint,
        "errors": {"object": "list", "data": errors} if errors else None,
        "input_file_id": record.input_file_id,
        "completion_window": batch.window,
        "status": status.value,
        "output_file_id": record.output_file_id,
        "error_file_id": record.error_file_id,
        "created_at": unix(batch.created_at),
        "in_progress_at": unix(batch.created_at) if not errors else None,
        "expires_at": unix(batch.deadline),
        "finalizing_at": finished if status in (OpenAIBatchStatus.COMPLETED, OpenAIBatchStatus.EXPIRED) else None,
        "completed_at": finished if status == OpenAIBatchStatus.COMPLETED else None,
        "failed_at": finished if status == OpenAIBatchStatus.FAILED else None,
        "expired_at": finished if status == OpenAIBatchStatus.EXPIRED else None,
        "cancelling_at": unix(batch.cancelled_at),
        "cancelled_at": unix(batch.cancelled_at),
        "request_counts": {
            "total": counts.request_count,
            "completed": counts.completed_count,
            "failed": counts.failed_count + counts.expired_count,
        },
        "usage": {
            "input_tokens": counts.prompt_tokens,
            "input_tokens_details": {"cached_tokens": counts.cached_tokens},
            "output_tokens": counts.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": counts.reasoning_tokens},
            "total_tokens": counts.total_tokens,
        },
        "metadata": record.metadata,
        "model": batch.model or None,
    }


def output_line(item: Item, endpoint: str) -> str:
    body = response_object(item) if endpoint == RESPONSES_ENDPOINT else answer(item)
    return json.dumps(
        {
            "id": f"batch_req_{item.id}",
            "custom_id": item.custom_id,
            "response": {"status_code": 200, "request_id": item.id, "body": body},
            "error": None,
        }
    )


def error_line(item: Item) -> str:
    error = item.error.as_dict() if item.error else {"code": item.status.value, "message": item.status.value}
    return json.dumps({"id": f"batch_req_{item.id}", "custom_id": item.custom_id, "response": None, "error": error})
