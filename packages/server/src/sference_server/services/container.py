"""The services the HTTP API and the console call, built once per process on a ``Core``."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from ..config import Settings
from ..core import Core
from ..security.accounts import Accounts
from ..security.device_flow import DeviceFlow, DeviceLimits
from ..security.sessions import ConsoleSessions
from ..security.throttle import SignInLimits, SignInThrottle
from ..store.database import Database
from .batch_retries import BatchRetries
from .batches import BatchService
from .estimates import Estimates
from .events import EventService
from .files import FileService
from .interactive import Interactive
from .lifecycle import Lifecycle
from .metrics import scrape_registry
from .openai_batches import OpenAIBatches
from .quotas import Quotas
from .responses import ResponseService
from .streams import StreamService
from .usage import UsageService
from .webhooks import WebhookService


@dataclass
class ApiServices:
    core: Core
    lifecycle: Lifecycle
    accounts: Accounts
    sessions: ConsoleSessions
    device_flow: DeviceFlow
    batches: BatchService
    batch_retries: BatchRetries
    estimates: Estimates
    streams: StreamService
    responses: ResponseService
    events: EventService
    files: FileService
    openai_batches: OpenAIBatches
    interactive: Interactive
    quotas: Quotas
    metrics_registry: CollectorRegistry  # what GET /metrics reads
    usage: UsageService
    webhooks: WebhookService

    @classmethod
    def build(cls, settings: Settings, db: Database | None = None) -> ApiServices:
        return cls.on(Core.build(settings, db))

    @classmethod
    def on(cls, core: Core) -> ApiServices:
        db, settings = core.db, core.settings
        lifecycle = Lifecycle(
            db,
            core.catalog,
            core.work_signal,
            core.events_signal,
            core.live,
            max_queued_items=settings.max_queued_items,
        )
        device_flow = DeviceFlow(db, interval=settings.device_poll_seconds, limits=device_limits(settings))
        estimates = Estimates(db, urgent_seconds=settings.urgent_seconds, cache_seconds=settings.estimate_cache_seconds)
        batches = BatchService(db, settings, lifecycle, estimates)
        return cls(
            core=core,
            lifecycle=lifecycle,
            accounts=Accounts(db, device_flow),
            sessions=ConsoleSessions(db, SignInThrottle(db, sign_in_limits(settings))),
            device_flow=device_flow,
            batches=batches,
            batch_retries=BatchRetries(db, settings, lifecycle, batches),
            estimates=estimates,
            streams=StreamService(db, lifecycle, estimates),
            responses=ResponseService(db, lifecycle),
            events=EventService(db, core.events_signal),
            files=FileService(db, settings.max_batch_bytes, settings.max_line_bytes),
            openai_batches=OpenAIBatches(db, settings, lifecycle, batches),
            interactive=Interactive(db, lifecycle, settings.interactive_timeout_seconds),
            quotas=Quotas(db, settings),
            metrics_registry=scrape_registry(db, core.catalog.ids()),
            usage=UsageService(db),
            webhooks=WebhookService(db, settings),
        )

    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def db(self) -> Database:
        return self.core.db

    def close(self) -> None:
        self.core.close()


def sign_in_limits(settings: Settings) -> SignInLimits:
    return SignInLimits(
        per_address=settings.sign_in_failures_per_address,
        per_user=settings.sign_in_failures_per_user,
        half_life=settings.sign_in_half_life_seconds,
    )


def device_limits(settings: Settings) -> DeviceLimits:
    return DeviceLimits(
        codes_per_address=settings.device_codes_per_address,
        tokens_per_address=settings.device_tokens_per_address,
        sign_in_seconds=settings.device_sign_in_days * 24 * 3600,
    )
