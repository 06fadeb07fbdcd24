"""The deliverer: sends the webhook outbox (store/webhooks.py), signed, from every worker process
and from API processes that run no worker, each claiming its own rows.

An attempt is one POST of the delivery's payload with fresh ``webhook-timestamp`` and
``webhook-signature`` headers (security/webhooks.py), no redirects followed, within
``webhook_timeout_seconds``. A 2xx delivers it; anything else (another status, a refused or
timed-out connection, an address refused by the policy) waits ``webhook_retry_seconds`` (with
jitter) and tries again until ``webhook_retry_window_seconds`` after the event, then it is
``failed``. A receiver's answer body is never read.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..core import Core
from ..domain.webhooks import EventType, next_wait
from ..render import sference
from ..render import webhooks as render
from ..retry import Backoff
from ..security import webhooks as signing
from ..store import webhooks as store
from ..store.batches import get_batch
from ..store.database import Tx
from ..store.items import get_item
from ..store.webhooks import Attempt, ClaimedDelivery
from ..timeutil import now

log = logging.getLogger("sference.webhooks")

CLAIM = 32  # deliveries claimed (and sent concurrently) at once
LEASE_SECONDS = 120.0  # a claim outlives the attempt's timeout; a dead deliverer's rows are due again after it


class RefusedAddress(Exception):
    """The endpoint's host resolves to an address deliveries may not go to."""


@dataclass(frozen=True)
class _Ready:
    claimed: ClaimedDelivery
    payload: str


class Deliverer:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.settings = core.settings
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhooks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        # A finished request may have queued a delivery: look at once instead of at the next poll.
        wake = asyncio.Event()
        self.core.events_signal.subscribe(wake)
        backoff = Backoff(self.settings.webhook_poll_seconds, max(self.settings.webhook_poll_seconds, 30.0))
        failing = False
        timeout = httpx.Timeout(self.settings.webhook_timeout_seconds)
        try:
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
                while True:
                    wake.clear()
                    try:
                        ready = await asyncio.to_thread(self._claim)
                        if ready:
                            attempts = await asyncio.gather(*(self._attempt(client, r) for r in ready))
                            await asyncio.to_thread(self._record, attempts)
                    except Exception as exc:  # the store is away: try again later, log once
                        if not failing:
                            log.warning("webhook deliveries failed (%s: %s); retrying", type(exc).__name__, exc)
                        failing = True
                        await asyncio.sleep(backoff.next())
                        continue
                    if failing:
                        log.info("webhook deliveries work again")
                    failing = False
                    backoff.reset()
                    if len(ready) == CLAIM:
                        continue  # more may be due
                    try:
                        await asyncio.wait_for(wake.wait(), self.settings.webhook_poll_seconds)
                    except TimeoutError:
                        pass
        finally:
            self.core.events_signal.unsubscribe(wake)

    # -- in a thread: the store --------------------------------------------------------------------

    def _claim(self) -> list[_Ready]:
        with self.core.db.read() as tx:
            if not store.has_due(tx, now=now()):
                return []
        with self.core.db.write() as tx:
            claimed = store.claim_due(tx, now=now(), limit=CLAIM, lease_seconds=LEASE_SECONDS)
        if not claimed:
            return []
        with self.core.db.read() as tx:
            return [_Ready(c, c.delivery.payload or self._render(tx, c)) for c in claimed]

    @staticmethod
    def _render(tx: Tx, claimed: ClaimedDelivery) -> str:
        """The payload of an event's first attempt: the object as the API shows it (a batch is
        final by now; so is a completed item)."""
        delivery = claimed.delivery
        data: dict[str, object] = {"id": delivery.subject_id}
        if delivery.event_type == EventType.RESPONSE_COMPLETED:
            item = get_item(tx, delivery.subject_id)
            if item is not None:
                data = render.response_data(item)
        elif delivery.event_type != EventType.TEST:
            batch = get_batch(tx, delivery.subject_id)
            if batch is not None:
                data = sference.batch(batch, None)  # a finished batch has no estimate
        return render.payload(delivery.event_type, delivery.created_at, data)

    def _record(self, attempts: Sequence[Attempt]) -> None:
        with self.core.db.write() as tx:
            store.record_attempts(tx, attempts)

    # -- on the loop: HTTP -------------------------------------------------------------------------

    async def _attempt(self, client: httpx.AsyncClient, ready: _Ready) -> Attempt:
        delivery = ready.claimed.delivery
        body = ready.payload.encode()
        sent_at = now()
        headers = signing.headers(ready.claimed.secret, delivery.id, int(sent_at), body)
        status: int | None = None
        error: str | None = None
        try:
            url, extensions = await self._target(ready.claimed.url, headers)
            async with client.stream("POST", url, content=body, headers=headers, extensions=extensions) as answer:
                status = answer.status_code
            if not 200 <= status < 300:
                error = f"the endpoint answered {status}"
        except (httpx.HTTPError, RefusedAddress, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        next_at: float | None = None
        if error is not None:
            next_at = sent_at + next_wait(delivery.attempts, self.settings.webhook_retry_seconds)
            if next_at > delivery.created_at + self.settings.webhook_retry_window_seconds:
                next_at = None
            log.info(
                "webhook delivery %s (%s) attempt %d failed: %s",
                delivery.id,
                delivery.event_type,
                delivery.attempts,
                error,
                extra={"fields": {"endpoint_id": delivery.endpoint_id}},
            )
        return Attempt(delivery.id, delivery.attempts, sent_at, ready.payload, status, error, next_at)

    async def _target(self, url: str, headers: dict[str, str]) -> tuple[str, dict[str, object]]:
        """Where to connect. Unless private addresses are allowed, the host is resolved here, every
        address it has must be public, and the request goes to the address checked (the
        ``Host`` header and TLS name stay the host's), so a second lookup cannot change it."""
        if self.settings.webhook_allow_private:
            return url, {}
        parts = urlsplit(url)
        host = parts.hostname or ""
        problem = signing.url_problem(url, allow_private=False)
        if problem is not None:
            raise RefusedAddress(f"the URL {problem}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        refused = [a for a in addresses if not signing.is_public(a)]
        if refused or not addresses:
            raise RefusedAddress(f"{host} resolves to a non-public address {refused[0] if refused else '(none)'}")
        address = addresses[0]
        if str(address) == host:  # an address already: nothing for a second lookup to change
            return url, {}
        literal = f"[{address}]" if address.version == 6 else str(address)
        headers["host"] = parts.netloc.rpartition("@")[2]
        pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
        return pinned, ({"sni_hostname": host} if parts.scheme == "https" else {})
