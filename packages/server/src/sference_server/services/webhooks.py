"""Webhook endpoints of a user, their delivery logs, redelivery and test pings. The deliveries
themselves are queued by the store with the events (store/webhooks.py) and sent by the deliverer
(worker/webhooks.py)."""

from __future__ import annotations

from collections.abc import Sequence

from ..config import Settings
from ..domain.webhooks import SUBSCRIBABLE, EventType
from ..errors import BadRequest, NotFound
from ..ids import uuid7
from ..render import webhooks as render
from ..security import webhooks as signing
from ..security.principal import Principal
from ..store import webhooks as store
from ..store.database import Database
from ..store.webhooks import WebhookDelivery, WebhookEndpoint, WebhookEvent
from ..timeutil import now

MAX_ENDPOINTS = 20  # per user: each event is sent to every one of them


class WebhookService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def create(self, who: Principal, *, url: str, events: Sequence[str] | None, description: str) -> WebhookEndpoint:
        """A new endpoint with a new secret (the caller shows it once). ``events`` None: all."""
        problems = []
        problem = signing.url_problem(url, allow_private=self.settings.webhook_allow_private)
        if problem is not None:
            problems.append({"loc": "url", "message": f"the URL {problem}"})
        chosen = list(dict.fromkeys(events)) if events is not None else [e.value for e in SUBSCRIBABLE]
        if not chosen:
            problems.append({"loc": "events", "message": "subscribe to at least one event type"})
        known = {e.value for e in SUBSCRIBABLE}
        for index, event in enumerate(chosen):
            if event not in known:
                message = f"unknown event type {event!r}; known: {', '.join(sorted(known))}"
                problems.append({"loc": f"events.{index}", "message": message})
        if problems:
            raise BadRequest("; ".join(f"{p['loc']}: {p['message']}" for p in problems), extra=problems)
        endpoint = WebhookEndpoint(
            id=uuid7(),
            user_id=who.user_id,
            url=url,
            secret=signing.new_secret(),
            events=tuple(chosen),
            description=description,
            enabled=True,
            created_at=now(),
        )
        with self.db.write() as tx:
            if store.count_endpoints_locked(tx, who.user_id) >= MAX_ENDPOINTS:
                raise BadRequest(f"a user may have at most {MAX_ENDPOINTS} webhook endpoints; delete one first")
            store.insert_endpoint(tx, endpoint)
        return endpoint

    def endpoints(self, who: Principal, *, limit: int, before: str | None) -> list[WebhookEndpoint]:
        """Newest first, ``limit + 1`` of them (the extra one says more exist)."""
        with self.db.read() as tx:
            return store.list_endpoints(tx, user_id=who.user_id, limit=limit + 1, before=before)

    def get(self, who: Principal, endpoint_id: str) -> WebhookEndpoint:
        with self.db.read() as tx:
            return _found(store.get_endpoint(tx, endpoint_id, user_id=who.user_id), endpoint_id)

    def set_enabled(self, who: Principal, endpoint_id: str, enabled: bool) -> WebhookEndpoint:
        """A disabled endpoint gets no new deliveries (those already queued are still sent)."""
        with self.db.write() as tx:
            _found(store.get_endpoint(tx, endpoint_id, user_id=who.user_id), endpoint_id)
            store.set_enabled(tx, endpoint_id, enabled)
        return self.get(who, endpoint_id)

    def delete(self, who: Principal, endpoint_id: str) -> None:
        with self.db.write() as tx:
            if not store.delete_endpoint(tx, endpoint_id, user_id=who.user_id):
                raise NotFound(f"no webhook endpoint with id {endpoint_id!r}")

    def deliveries(self, who: Principal, endpoint_id: str, *, limit: int, before: str | None) -> list[WebhookDelivery]:
        """The endpoint's deliveries, newest first, ``limit + 1`` of them."""
        with self.db.read() as tx:
            _found(store.get_endpoint(tx, endpoint_id, user_id=who.user_id), endpoint_id)
            return store.list_deliveries(tx, endpoint_id, limit=limit + 1, before=before)

    def redeliver(self, who: Principal, delivery_id: str) -> WebhookDelivery:
        """Send a delivery again now (same ``webhook-id`` and body), whatever became of it."""
        with self.db.write() as tx:
            if store.get_delivery(tx, delivery_id, user_id=who.user_id) is None:
                raise NotFound(f"no webhook delivery with id {delivery_id!r}")
            store.redeliver(tx, delivery_id, now=now())
            delivery = store.get_delivery(tx, delivery_id, user_id=who.user_id)
        assert delivery is not None
        return delivery

    def test(self, who: Principal, endpoint_id: str) -> WebhookDelivery:
        """Queue a ``webhook.test`` delivery to the endpoint (whatever it subscribed to)."""
        at = now()
        with self.db.write() as tx:
            _found(store.get_endpoint(tx, endpoint_id, user_id=who.user_id), endpoint_id)
            body = render.payload(EventType.TEST, at, {"endpoint_id": endpoint_id})
            event = WebhookEvent(who.user_id, EventType.TEST, endpoint_id)
            (delivery_id,) = store.enqueue(tx, [event], now=at, endpoint_id=endpoint_id, payload=body)
            delivery = store.get_delivery(tx, delivery_id, user_id=who.user_id)
        assert delivery is not None
        return delivery


def _found(endpoint: WebhookEndpoint | None, endpoint_id: str) -> WebhookEndpoint:
    if endpoint is None:
        raise NotFound(f"no webhook endpoint with id {endpoint_id!r}")
    return endpoint
