"""Webhook endpoints and the delivery outbox.

Delivery contract: at-least-once. An event's rows are inserted in the transaction that made it
happen (``enqueue``), so a committed event is never lost; a deliverer claims a due row by moving
its ``next_attempt_at`` a lease ahead (``claim_due``: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
SQLite's single writer), sends it, and writes the outcome only if the row is still the one it
claimed (same ``attempts``). A deliverer that dies mid-send leaves the row to be claimed again
when the lease runs out, so a receiver may see one message twice: it dedupes on ``webhook-id``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Self

from sqlalchemy import delete, func, insert, select, text, update

from ..domain.webhooks import DeliveryStatus, EventType
from ..ids import uuid7
from .database import Tx
from .tables import PENDING_DELIVERY, users, webhook_deliveries, webhook_endpoints


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    user_id: str
    url: str
    secret: str
    events: tuple[str, ...]
    description: str
    enabled: bool
    created_at: float

    @classmethod
    def from_row(cls, row: Any) -> Self:
        m = row._mapping
        return cls(
            id=m["id"],
            user_id=m["user_id"],
            url=m["url"],
            secret=m["secret"],
            events=tuple(m["events"].split()),
            description=m["description"],
            enabled=bool(m["enabled"]),
            created_at=m["created_at"],
        )


@dataclass(frozen=True)
class WebhookDelivery:
    id: str
    endpoint_id: str
    user_id: str
    event_type: str
    subject_id: str
    payload: str | None
    status: DeliveryStatus
    attempts: int
    next_attempt_at: float
    last_attempt_at: float | None
    last_status_code: int | None
    last_error: str | None
    created_at: float
    delivered_at: float | None

    @classmethod
    def from_row(cls, row: Any) -> Self:
        m = row._mapping
        values = {name: m[name] for name in cls.__dataclass_fields__}
        return cls(**{**values, "status": DeliveryStatus(values["status"])})


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery a deliverer holds for one attempt, with where it goes."""

    delivery: WebhookDelivery
    url: str
    secret: str


@dataclass(frozen=True)
class WebhookEvent:
    """Something webhooks may be sent about: ``subject_id`` is the batch, item or endpoint."""

    user_id: str
    type: EventType
    subject_id: str


# -- endpoints ---------------------------------------------------------------------------------


def count_endpoints_locked(tx: Tx, user_id: str) -> int:
    """How many endpoints the user has, with the user's row held until the transaction ends
    (PostgreSQL; SQLite has one writer), so that creates racing each other count one at a time.
    ``FOR NO KEY UPDATE``: rows that only refer to the user (items, keys) are not held up."""
    tx.execute(select(users.c.id).where(users.c.id == user_id).with_for_update(key_share=True))
    return int(tx.execute(select(func.count()).where(webhook_endpoints.c.user_id == user_id)).scalar_one())


def insert_endpoint(tx: Tx, endpoint: WebhookEndpoint) -> None:
    tx.execute(
        insert(webhook_endpoints),
        [
            {
                "id": endpoint.id,
                "user_id": endpoint.user_id,
                "url": endpoint.url,
                "secret": endpoint.secret,
                "events": " ".join(endpoint.events),
                "description": endpoint.description,
                "enabled": int(endpoint.enabled),
                "created_at": endpoint.created_at,
            }
        ],
    )


def get_endpoint(tx: Tx, endpoint_id: str, *, user_id: str) -> WebhookEndpoint | None:
    query = select(webhook_endpoints).where(
        webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.user_id == user_id
    )
    row = tx.execute(query).first()
    return WebhookEndpoint.from_row(row) if row is not None else None


def list_endpoints(tx: Tx, *, user_id: str, limit: int, before: str | None = None) -> list[WebhookEndpoint]:
    """Newest first; ``before`` is an endpoint id cursor (ids are time-ordered)."""
    query = select(webhook_endpoints).where(webhook_endpoints.c.user_id == user_id)
    if before is not None:
        query = query.where(webhook_endpoints.c.id < before)
    rows = tx.execute(query.order_by(webhook_endpoints.c.id.desc()).limit(limit))
    return [WebhookEndpoint.from_row(r) for r in rows]


def set_enabled(tx: Tx, endpoint_id: str, enabled: bool) -> None:
    tx.execute(update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id).values(enabled=int(enabled)))


def delete_endpoint(tx: Tx, endpoint_id: str, *, user_id: str) -> bool:
    """Delete the endpoint and its delivery log (a deliverer sending one of them now finds its
    row gone and writes nothing).

    On PostgreSQL the endpoint row is locked first: a recorder queuing a delivery to it holds
    ``FOR KEY SHARE`` on it until its commit (``enqueue``), so this waits for that commit and then
    deletes its delivery too; without the lock, a delivery inserted between the two deletes made
    the endpoint's a foreign key error."""
    owned = select(webhook_endpoints.c.id).where(
        webhook_endpoints.c.id == endpoint_id, webhook_endpoints.c.user_id == user_id
    )
    if tx.dialect.name == "postgresql":
        owned = owned.with_for_update()
    if tx.execute(owned).first() is None:
        return False
    tx.execute(delete(webhook_deliveries).where(webhook_deliveries.c.endpoint_id == endpoint_id))
    tx.execute(delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))
    return True


# -- the outbox --------------------------------------------------------------------------------


def enqueue(
    tx: Tx,
    events: Sequence[WebhookEvent],
    *,
    now: float,
    endpoint_id: str | None = None,
    payload: str | None = None,
) -> list[str]:
    """Insert a delivery for each event and each enabled endpoint of its user subscribed to its
    type (or only ``endpoint_id``, whatever it subscribed: a test). One indexed read of the users'
    endpoints; nothing more when they have none. Returns the new deliveries' ids."""
    if not events:
        return []
    query = select(webhook_endpoints.c.id, webhook_endpoints.c.user_id, webhook_endpoints.c.events)
    if endpoint_id is not None:
        query = query.where(webhook_endpoints.c.id == endpoint_id)
    else:
        wanted = sorted({event.user_id for event in events})
        query = query.where(webhook_endpoints.c.user_id.in_(wanted), webhook_endpoints.c.enabled == 1)
    if tx.dialect.name == "postgresql":
        # Held until the commit, so an endpoint deleted meanwhile is either waited for and not
        # seen, or waits for us: never a foreign key error in the transaction recording results.
        query = query.with_for_update(read=True, key_share=True)
    endpoints = tx.execute(query).all()
    if not endpoints:
        return []
    rows = [
        {
            "id": uuid7(),
            "endpoint_id": endpoint.id,
            "user_id": event.user_id,
            "event_type": event.type.value,
            "subject_id": event.subject_id,
            "payload": payload,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for event in events
        for endpoint in endpoints
        if endpoint.user_id == event.user_id
        and (endpoint_id is not None or event.type.value in endpoint.events.split())
    ]
    if rows:
        tx.execute(insert(webhook_deliveries), rows)
    return [row["id"] for row in rows]


def list_deliveries(tx: Tx, endpoint_id: str, *, limit: int, before: str | None = None) -> list[WebhookDelivery]:
    """An endpoint's deliveries, newest first; ``before`` is a delivery id cursor."""
    query = select(webhook_deliveries).where(webhook_deliveries.c.endpoint_id == endpoint_id)
    if before is not None:
        query = query.where(webhook_deliveries.c.id < before)
    rows = tx.execute(query.order_by(webhook_deliveries.c.id.desc()).limit(limit))
    return [WebhookDelivery.from_row(r) for r in rows]


def get_delivery(tx: Tx, delivery_id: str, *, user_id: str) -> WebhookDelivery | None:
    query = select(webhook_deliveries).where(
        webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.user_id == user_id
    )
    row = tx.execute(query).first()
    return WebhookDelivery.from_row(row) if row is not None else None


def redeliver(tx: Tx, delivery_id: str, *, now: float) -> None:
    """Send the delivery again now, whatever became of it (its attempts go on counting)."""
    tx.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery_id)
        .values(status=DeliveryStatus.PENDING, next_attempt_at=now, delivered_at=None)
    )


def has_due(tx: Tx, *, now: float) -> bool:
    """Whether any delivery is due: a read of the partial index, so that a deliverer woken by every
    finished request takes the writer (SQLite's single one) only when there is something to send."""
    query = select(webhook_deliveries.c.id).where(text(PENDING_DELIVERY), webhook_deliveries.c.next_attempt_at <= now)
    return tx.execute(query.limit(1)).first() is not None


def claim_due(tx: Tx, *, now: float, limit: int, lease_seconds: float) -> list[ClaimedDelivery]:
    """Hold up to ``limit`` pending deliveries due by ``now`` for one attempt each: their
    ``next_attempt_at`` moves ``lease_seconds`` ahead (when a deliverer dies, that is when the
    row is due again) and the attempt is counted."""
    pick = (
        select(webhook_deliveries.c.id)
        .where(text(PENDING_DELIVERY), webhook_deliveries.c.next_attempt_at <= now)
        .order_by(webhook_deliveries.c.next_attempt_at)
        .limit(limit)
    )
    if tx.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    ids = list(tx.execute(pick).scalars())
    if not ids:
        return []
    tx.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id.in_(ids), webhook_deliveries.c.status == DeliveryStatus.PENDING)
        .values(next_attempt_at=now + lease_seconds, attempts=webhook_deliveries.c.attempts + 1)
    )
    rows = tx.execute(
        select(webhook_deliveries, webhook_endpoints.c.url, webhook_endpoints.c.secret)
        .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
        .where(webhook_deliveries.c.id.in_(ids))
        .order_by(webhook_deliveries.c.id)
    ).all()
    return [ClaimedDelivery(WebhookDelivery.from_row(row), row.url, row.secret) for row in rows]


@dataclass(frozen=True)
class Attempt:
    """What one attempt of a claimed delivery came to."""

    delivery_id: str
    attempts: int  # the claim's count: the guard that it is still this deliverer's
    at: float
    payload: str
    status_code: int | None
    error: str | None
    next_attempt_at: float | None  # None: delivered, or given up (``failed``)

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def record_attempts(tx: Tx, attempts: Iterable[Attempt]) -> int:
    """Write each attempt's outcome unless its delivery was claimed again, redelivered or deleted
    meanwhile (``attempts`` changed, or the row is not pending); how many were written."""
    written = 0
    for attempt in attempts:
        if attempt.delivered:
            status, when = DeliveryStatus.DELIVERED, {"delivered_at": attempt.at}
        elif attempt.next_attempt_at is None:
            status, when = DeliveryStatus.FAILED, {}
        else:
            status, when = DeliveryStatus.PENDING, {"next_attempt_at": attempt.next_attempt_at}
        result = tx.execute(
            update(webhook_deliveries)
            .where(
                webhook_deliveries.c.id == attempt.delivery_id,
                webhook_deliveries.c.attempts == attempt.attempts,
                webhook_deliveries.c.status == DeliveryStatus.PENDING,
            )
            .values(
                status=status,
                payload=attempt.payload,
                last_attempt_at=attempt.at,
                last_status_code=attempt.status_code,
                last_error=attempt.error[:500] if attempt.error else None,
                **when,
            )
        )
        written += result.rowcount
    return written
