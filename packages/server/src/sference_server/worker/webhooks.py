"""The deliverer: sends the webhook outbox (store/webhooks.py), signed, from every worker process
and from API processes that run no worker, each claiming its own rows.

An attempt is one POST of the delivery's payload with fresh ``webhook-timestamp`` and
``webhook-signature`` headers (security/webhooks.py), no redirects followed, all of it (the
host's lookup, connecting, sending, the answer's headers) within ``webhook_timeout_seconds``. A
2xx delivers it; anything else (another status, a refused or timed-out connection, an address
refused by the policy, any other error) waits ``webhook_retry_seconds`` (with jitter) and tries
again until ``webhook_retry_window_seconds`` after the event, then it is ``failed``. A
receiver's answer body is never read.

An attempt never raises: whatever goes wrong is its recorded error, and each one is recorded as
soon as it ends, so neither a bad endpoint nor a slow one holds up the others' outcomes. A claim's
lease outlasts the attempt's timeout, so no other deliverer takes a row that is still being sent.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from ..background import BackgroundTask
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
WAKE_INTERVAL_SECONDS = 0.25  # after a wake-up by a finished request, the next look waits this long
LEASE_SECONDS = 120.0  # a dead deliverer's rows are due again after this...
LEASE_MARGIN_SECONDS = 60.0  # ...or after the attempt's timeout and this, if that is longer


def lease_seconds(timeout_seconds: float) -> float:
    """How long a claim holds its deliveries: past the end of the attempt (bounded by the
    timeout) and the write of its outcome, so no other deliverer sends a row that is still out."""
    return max(LEASE_SECONDS, timeout_seconds + LEASE_MARGIN_SECONDS)


class RefusedAddress(Exception):
    """The endpoint's host resolves to an address deliveries may not go to."""


@dataclass(frozen=True)
class _Ready:
    claimed: ClaimedDelivery
    payload: str


class Deliverer(BackgroundTask):
    name = "webhooks"

    def __init__(self, core: Core) -> None:
        super().__init__()
        self.core = core
        self.settings = core.settings
        self._lease = lease_seconds(self.settings.webhook_timeout_seconds)
        # Lookups get threads of their own: a hung resolver must not take the default executor's,
        # which the store's calls run on.
        self._resolver: ThreadPoolExecutor | None = None

    async def _run(self) -> None:
        # A finished request may have queued a delivery: look at once instead of at the next poll.
        wake = asyncio.Event()
        self.core.events_signal.subscribe(wake)
        backoff = Backoff(self.settings.webhook_poll_seconds, max(self.settings.webhook_poll_seconds, 30.0))
        failing = False
        timeout = httpx.Timeout(self.settings.webhook_timeout_seconds)
        self._resolver = ThreadPoolExecutor(CLAIM, thread_name_prefix="webhook-dns")
        try:
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
                while True:
                    wake.clear()
                    try:
                        ready = await asyncio.to_thread(self._claim)
                        if ready:
                            await self._send(client, ready)
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
                        continue
                    # Woken by a finished request: look again soon, but not once per flush of a
                    # busy worker (hundreds a second), which would cost the store a read each.
                    await asyncio.sleep(WAKE_INTERVAL_SECONDS)
        finally:
            self.core.events_signal.unsubscribe(wake)
            self._resolver.shutdown(wait=False, cancel_futures=True)

    async def _send(self, client: httpx.AsyncClient, ready: Sequence[_Ready]) -> None:
        """Attempt every claimed delivery at once and record the outcomes as they come: those that
        end together in one write, while the rest go on. Done when all are (each within the
        timeout); a failed write leaves the rest to the lease."""
        pending = {asyncio.create_task(self._attempt(client, r)) for r in ready}
        try:
            while pending:
                ended, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                await asyncio.to_thread(self._record, [task.result() for task in ended])
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # -- in a thread: the store --------------------------------------------------------------------

    def _claim(self) -> list[_Ready]:
        with self.core.db.read() as tx:
            if not store.has_due(tx, now=now()):
                return []
        with self.core.db.write() as tx:
            claimed = store.claim_due(tx, now=now(), limit=CLAIM, lease_seconds=self._lease)
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
        """One attempt; whatever goes wrong is its error, never an exception (but a cancel)."""
        delivery = ready.claimed.delivery
        body = ready.payload.encode()
        sent_at = now()
        headers = signing.headers(ready.claimed.secret, delivery.id, int(sent_at), body)
        status: int | None = None
        error: str | None = None
        limit = self.settings.webhook_timeout_seconds
        try:
            # httpx's timeout bounds each read, not the whole: a receiver that trickles its
            # answer's headers, or a slow lookup, would hold the attempt for ever without this.
            async with asyncio.timeout(limit):
                url, extensions = await self._target(ready.claimed.url, headers)
                async with client.stream("POST", url, content=body, headers=headers, extensions=extensions) as answer:
                    status = answer.status_code
            if not 200 <= status < 300:
                error = f"the endpoint answered {status}"
        except TimeoutError:
            status, error = None, f"no answer within {limit:g} s (SFERENCE_WEBHOOK_TIMEOUT_SECONDS)"
        except (httpx.HTTPError, RefusedAddress, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:  # a bug or a case not foreseen: still this delivery's failure alone
            log.exception("webhook delivery %s attempt %d raised", delivery.id, delivery.attempts)
            error = f"the attempt failed unexpectedly ({type(exc).__name__}: {exc})"
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
        loop = asyncio.get_running_loop()
        addresses = await loop.run_in_executor(self._resolver, _lookup, host, port)
        refused = [a for a in addresses if not signing.is_public(a)]
        if refused or not addresses:
            # Not which address: users read this error, and it would let them map internal names.
            log.info("webhook host %s resolves to %s: refused", host, refused[0] if refused else "no address")
            if not refused:
                raise RefusedAddress(f"{host} has no address")
            raise RefusedAddress(f"{host} resolves to a private address (refused: SFERENCE_WEBHOOK_ALLOW_PRIVATE)")
        address = addresses[0]
        if str(address) == host:  # an address already: nothing for a second lookup to change
            return url, {}
        literal = f"[{address}]" if address.version == 6 else str(address)
        headers["host"] = parts.netloc.rpartition("@")[2]
        pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
        return pinned, ({"sni_hostname": host} if parts.scheme == "https" else {})


def _lookup(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]
