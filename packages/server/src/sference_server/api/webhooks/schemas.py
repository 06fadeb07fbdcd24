"""Request and response bodies of the webhooks API (rendered by render/webhooks.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ...json_input import PlainText
from ..openapi import Wire


class EndpointCreate(BaseModel):
    url: str = Field(min_length=1, max_length=2048)
    # None: every event type (docs/api.md lists them); checked by the service, naming the bad one.
    events: list[str] | None = Field(default=None, max_length=10)
    description: PlainText = Field(default="", max_length=500)


class EndpointPatch(BaseModel):
    enabled: bool


class Endpoint(Wire):
    id: str
    object: Literal["webhook_endpoint"]
    url: str
    events: list[str]
    description: str
    enabled: bool
    created_at: str


class NewEndpoint(Endpoint):
    """The endpoint just made, with its signing secret: shown this once."""

    secret: str


class EndpointPage(Wire):
    """Newest first; ``next_before`` is the ``before`` of the next page."""

    object: Literal["list"]
    items: list[Endpoint]
    has_more: bool
    next_before: str | None


class Deleted(Wire):
    id: str
    object: Literal["webhook_endpoint"]
    deleted: bool


class Delivery(Wire):
    """One event sent to one endpoint: ``id`` is its ``webhook-id`` header, the same on every attempt."""

    id: str
    object: Literal["webhook_delivery"]
    endpoint_id: str
    event_type: str
    subject_id: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: str
    last_attempt_at: str | None
    next_attempt_at: str | None
    delivered_at: str | None


class DeliveryPage(Wire):
    """Newest first; ``next_before`` is the ``before`` of the next page."""

    object: Literal["list"]
    items: list[Delivery]
    has_more: bool
    next_before: str | None
