"""Webhook payloads (the body every attempt of a delivery sends, signed) and the API's shapes of
endpoints and deliveries."""

from __future__ import annotations

from typing import Any

from ..compact_json import compact
from ..store.records import Item
from ..store.webhooks import WebhookDelivery, WebhookEndpoint
from ..timeutil import iso
from .answers import answer
from .sference import RESPONSE_STATUS


def payload(event_type: str, timestamp: float, data: dict[str, Any]) -> str:
    """``{"type", "timestamp", "data"}`` (Standard Webhooks): ``timestamp`` is when the event
    happened, not when this attempt was sent (the ``webhook-timestamp`` header says that)."""
    return compact({"type": event_type, "timestamp": iso(timestamp), "data": data})


def response_data(item: Item) -> dict[str, Any]:
    """A finished stream item, as ``response.completed`` carries it."""
    prompt, completion = item.prompt_tokens, item.completion_tokens
    return {
        "id": item.id,
        "object": "response",
        "status": RESPONSE_STATUS[item.status],
        "model": item.model,
        "stream_id": item.stream_id,
        "custom_id": item.custom_id,
        "created_at": iso(item.created_at),
        "completed_at": iso(item.completed_at),
        "result": answer(item) if item.output is not None else None,
        "usage": None
        if prompt is None or completion is None
        else {
            "input_tokens": prompt,
            "output_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def endpoint(record: WebhookEndpoint, *, with_secret: bool = False) -> dict[str, Any]:
    """An endpoint; its secret only in the answer that created it."""
    body: dict[str, Any] = {
        "id": record.id,
        "object": "webhook_endpoint",
        "url": record.url,
        "events": list(record.events),
        "description": record.description,
        "enabled": record.enabled,
        "created_at": iso(record.created_at),
    }
    if with_secret:
        body["secret"] = record.secret
    return body


def delivery(record: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": record.id,
        "object": "webhook_delivery",
        "endpoint_id": record.endpoint_id,
        "event_type": record.event_type,
        "subject_id": record.subject_id,
        "status": record.status.value,
        "attempts": record.attempts,
        "last_status_code": record.last_status_code,
        "last_error": record.last_error,
        "created_at": iso(record.created_at),
        "last_attempt_at": iso(record.last_attempt_at),
        "next_attempt_at": iso(record.next_attempt_at) if record.status == "pending" else None,
        "delivered_at": iso(record.delivered_at),
    }
