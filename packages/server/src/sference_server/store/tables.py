"""SQLAlchemy Core tables. The Alembic migrations in ``migrations/`` build exactly this schema
(``tests/store/test_migrations.py`` compares them).

Times are Unix seconds (double precision). JSON documents are stored as text: request bodies in
normalised chat shape (domain/chat.py), results and errors in the neutral shape of
domain/outcome.py (never a wire format: render/ turns records into each surface's shape).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(36)

# Conditions of partial indexes that queries state word for word (SQLite uses a partial index only
# for a query whose WHERE holds its condition with the same constants): store/quotas.py.
ACTIVE_OUTSIDE_BATCHES = "status IN ('queued', 'running') AND batch_id IS NULL"
UNFINISHED_BATCH = "status IN ('ingesting', 'pending', 'running', 'cancelling')"
PENDING_DELIVERY = "status = 'pending'"
HELD_BATCH = "held_from IS NOT NULL"

# The priority a batch's rows are written with while the batch is being ingested (store/ingest.py):
# above every real one (domain.states.Priority), so that no claim's range of ``ix_items_claim`` or
# ``ix_items_fair`` reaches them. Released to ``Priority.QUEUED`` once the batch is whole.
HELD_PRIORITY = 9

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255)),
    Column("created_at", Float, nullable=False),
    Column("disabled_at", Float),
    # Console sign-in throttling: consecutive failures, and the lock they earned.
    # Per-user limits (None: the server's defaults, config.Settings).
    Column("requests_per_minute", Integer),
    Column("max_concurrent_interactive", Integer),
    Column("max_queued_items", Integer),
)

# Decaying counts (security/throttle.py): failed sign-ins per client address ("ip:...") and per
# username ("user:..."), device sign-in requests per address ("device_code:ip:...", "device_token:ip:...").
sign_in_failures = Table(
    "sign_in_failures",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("score", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# A signed-in browser. The cookie holds a random token; only its SHA-256 is stored.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

# RFC 8628 device authorisation: a CLI asks for a code, a signed-in user approves it.
device_codes = Table(
    "device_codes",
    metadata,
    Column("id", ID, primary_key=True),
    Column("device_code_hash", String(64), nullable=False, unique=True),
    Column("user_code", String(16), nullable=False, unique=True),
    Column("client_id", String(64), nullable=False),
    Column("label", String(200)),
    Column("status", String(16), nullable=False),
    Column("user_id", ID, ForeignKey("users.id")),
    Column("interval", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("last_polled_at", Float),
    # Where the request came from, shown on the approval page.
    Column("requested_ip", String(64)),
    Column("requested_agent", String(300)),
)

# What an approved device holds: a grant, and its access and (rotating) refresh tokens.
oauth_grants = Table(
    "oauth_grants",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False, index=True),
    Column("client_id", String(64), nullable=False),
    Column("label", String(200)),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float),
    Column("revoked_at", Float),
)

oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("grant_id", ID, ForeignKey("oauth_grants.id"), nullable=False, index=True),
    Column("kind", String(8), nullable=False),  # access | refresh
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("rotated_at", Float),  # a refresh token that was exchanged
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("scopes", String(255), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float),
    Column("expires_at", Float),
    Column("revoked_at", Float),
    # domain/versions.py; keys made before versions existed answer in the seed's (migration 0007).
    Column("api_version", String(16), nullable=False, server_default="2025-10-01"),
)


def outcome_counters() -> list[Column[int]]:
    """Items per status after they left the queue, and token totals (batches and streams): prompt
    tokens, those of them served from a prefix cache, completion tokens, those of them spent
    thinking."""
    columns: list[Column[int]] = [
        Column(f"{status}_count", Integer, nullable=False, server_default=text("0"))
        for status in ("running", "completed", "failed", "cancelled", "expired")
    ]
    columns += [
        Column(name, BigInteger, nullable=False, server_default=text("0"))
        for name in ("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens")
    ]
    return columns


# A batch's counters always equal the COUNT of its items per status, and its token counters the
# SUM of its finished items' usage: every statement that moves an item between statuses updates
# them in the same transaction (store/queue.py).
batches = Table(
    "batches",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False),
    Column("model", String(255), nullable=False),
    Column("window", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("deadline", Float, nullable=False),
    Column("started_at", Float),
    Column("completed_at", Float),
    Column("cancelled_at", Float),
    Column("request_count", Integer, nullable=False),
    Column("queued_count", Integer, nullable=False),
    *outcome_counters(),
    Column("error", Text),
    # The batch this one re-runs the unfinished rows of (POST /v1/batches/{id}/retry). No foreign
    # key: adding one on SQLite means rebuilding the table, and the id is always the caller's own
    # published batch, which is never deleted.
    Column("retry_of", ID),
    # The first row (row_index) that may still be held (``HELD_PRIORITY``); None when none is.
    Column("held_from", Integer),
    Index("ix_batches_user_id", "user_id", "id"),
    # The queued-items limit: a user's batches that may still hold queued or running rows.
    Index(
        "ix_batches_user_unfinished",
        "user_id",
        sqlite_where=text(UNFINISHED_BATCH),
        postgresql_where=text(UNFINISHED_BATCH),
    ),
    # Published batches whose rows are still being released (the sweep finishes what a crash left).
    Index("ix_batches_held", "id", sqlite_where=text(HELD_BATCH), postgresql_where=text(HELD_BATCH)),
)

# A long-lived stream: responses are added to it over time. Counters as for batches.
streams = Table(
    "streams",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("window", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("cancelled_at", Float),
    Column("archived_at", Float),
    Column("request_count", Integer, nullable=False, server_default=text("0")),
    Column("queued_count", Integer, nullable=False, server_default=text("0")),
    *outcome_counters(),
    # 1: each item that completes sends a ``response.completed`` webhook (store/webhooks.py).
    Column("webhook_responses", Integer, nullable=False, server_default=text("0")),
    Index("ix_streams_user_id", "user_id", "id"),
)

# One row per inference request, whatever submitted it (a batch row, a stream item, a response).
items = Table(
    "items",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False),
    Column("batch_id", ID, ForeignKey("batches.id")),
    Column("stream_id", ID, ForeignKey("streams.id")),
    Column("row_index", Integer),
    Column("custom_id", String(512)),
    Column("model", String(255), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("priority", Integer, nullable=False, server_default=text("1")),  # domain.states.Priority, or HELD_PRIORITY
    Column("deadline", Float, nullable=False),
    Column("not_before", Float, nullable=False, server_default=text("0")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("lease_owner", String(128)),
    Column("lease_expires_at", Float),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("completed_at", Float),
    Column("result", Text),  # a domain.outcome Output (chat, embeddings, decisions) as JSON
    Column("error", Text),  # domain.outcome.ItemError as JSON
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("metadata", Text),  # a response's metadata, as sent
    # Fair share between users (store/fairness.py): claimed in this order within a priority.
    Column("fair_key", Float, nullable=False, server_default=text("0")),
    Index("uq_items_batch_row", "batch_id", "row_index", unique=True),
    # Listing responses (standalone, or of one stream), newest first.
    Index(
        "ix_items_responses",
        "user_id",
        "stream_id",
        "id",
        sqlite_where=text("batch_id IS NULL"),
        postgresql_where=text("batch_id IS NULL"),
    ),
    # The claim query: queued work of one model, earliest deadline first.
    Index(
        "ix_items_claim",
        "model",
        "priority",
        "deadline",
        "id",
        sqlite_where=text("status = 'queued'"),
        postgresql_where=text("status = 'queued'"),
    ),
    # The claim's fair order: queued work of one model, users interleaved.
    Index(
        "ix_items_fair",
        "model",
        "priority",
        "fair_key",
        "id",
        sqlite_where=text("status = 'queued'"),
        postgresql_where=text("status = 'queued'"),
    ),
    Index(
        "ix_items_queued_deadline",
        "deadline",
        sqlite_where=text("status = 'queued'"),
        postgresql_where=text("status = 'queued'"),
    ),
    Index(
        "ix_items_running_lease",
        "lease_expires_at",
        sqlite_where=text("status = 'running'"),
        postgresql_where=text("status = 'running'"),
    ),
    # The queued-items limit: a user's queued and running items outside batches (a batch's are
    # its counters; store/quotas.py).
    Index(
        "ix_items_user_active",
        "user_id",
        sqlite_where=text(ACTIVE_OUTSIDE_BATCHES),
        postgresql_where=text(ACTIVE_OUTSIDE_BATCHES),
    ),
    Index(
        "ix_items_running_owner",
        "lease_owner",
        sqlite_where=text("status = 'running'"),
        postgresql_where=text("status = 'running'"),
    ),
)

# Usage per user, model and UTC day (store/usage.py): requests that finished, by how, and their
# tokens. Written in the transaction that finishes the items, so it always equals what the items
# say, and outlives them.
usage_days = Table(
    "usage_days",
    metadata,
    Column("user_id", ID, ForeignKey("users.id"), primary_key=True),
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD, UTC, of the items' completed_at
    Column("model", String(255), primary_key=True),
    *(
        Column(f"{status}_count", Integer, nullable=False, server_default=text("0"))
        for status in ("completed", "failed", "cancelled", "expired")
    ),
    *(
        Column(name, BigInteger, nullable=False, server_default=text("0"))
        for name in ("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens")
    ),
    # Every user's usage of a range of days (an administrator's report).
    Index("ix_usage_days_day", "day"),
)

# Where each user's next queued request of one window goes in the fair order of one model and
# priority (the fair key after the user's last one): store/fairness.py.
fair_tails = Table(
    "fair_tails",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("model", String(255), primary_key=True),
    Column("priority", Integer, primary_key=True),
    Column("window", Integer, primary_key=True),  # seconds from submission to deadline
    Column("tail", Float, nullable=False),
)

# Idempotency-Key headers of submissions (``scope``: which API), for a day: a retried submission
# gets the object the first one made. store/idempotency.py.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("user_id", ID, primary_key=True),
    Column("scope", String(32), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("object_id", ID, nullable=False),
    Column("created_at", Float, nullable=False, index=True),
)

# One event per item that reached a terminal state, appended in the same transaction. Ids are
# UUIDv7 and increase in commit order (store/events.py), so ``id > cursor`` is a resumable feed.
completion_events = Table(
    "completion_events",
    metadata,
    Column("id", ID, primary_key=True),
    Column("item_id", ID, ForeignKey("items.id"), nullable=False),
    Column("user_id", ID, nullable=False),
    Column("batch_id", ID),
    Column("stream_id", ID),
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    # The feed of one user: standalone responses and batch rows (stream_id NULL), or one stream.
    Index("ix_completion_events_feed", "user_id", "stream_id", "id"),
)


# Files of the OpenAI-compatible API. Uploads keep their bytes in ``file_chunks`` (so every API
# process of a deployment can serve them, with no shared disk); a batch's output and error files
# hold no bytes of their own: their content is made from the batch's items when read.
files = Table(
    "files",
    metadata,
    Column("id", String(48), primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("kind", String(16), nullable=False),  # upload | batch_output | batch_error
    Column("batch_id", ID, ForeignKey("batches.id")),
    Column("bytes", BigInteger),  # None until known (a batch file's size, once the batch finished)
    Column("created_at", Float, nullable=False),
    Column("deleted_at", Float),
    Index("ix_files_user_id", "user_id", "id"),
)

file_chunks = Table(
    "file_chunks",
    metadata,
    Column("file_id", String(48), ForeignKey("files.id"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)

# What the OpenAI Batch API adds to a batch.
openai_batches = Table(
    "openai_batches",
    metadata,
    Column("batch_id", ID, ForeignKey("batches.id"), primary_key=True),
    Column("endpoint", String(64), nullable=False),
    Column("input_file_id", String(48), nullable=False),
    Column("output_file_id", String(48)),  # made when the batch finishes
    Column("error_file_id", String(48)),  # made when it finishes with rows that did not complete
    Column("metadata", Text),
    Column("errors", Text),  # validation errors, for a batch that failed before it started
)


# Where a user's webhooks go (docs/api.md "Webhooks"). ``secret`` is the Standard Webhooks signing
# key (``whsec_...``): kept in plain text because every delivery is signed with it (docs/security.md).
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", ID, primary_key=True),
    Column("user_id", ID, ForeignKey("users.id"), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("secret", String(128), nullable=False),
    Column("events", String(512), nullable=False),  # event types, space separated
    Column("description", String(500), nullable=False),
    Column("enabled", Integer, nullable=False, server_default=text("1")),
    Column("created_at", Float, nullable=False),
    Index("ix_webhook_endpoints_user_id", "user_id", "id"),
)

# The outbox: one row per event and endpoint, inserted in the transaction that made the event
# happen (a batch finishing, a stream item completing), so a crash never loses one. The deliverer
# (worker/webhooks.py) claims due rows by moving ``next_attempt_at`` past its lease.
# ``payload`` is rendered by the first attempt and sent byte for byte by every later one.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", ID, primary_key=True),  # the ``webhook-id`` header: the same on every attempt
    Column("endpoint_id", ID, ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("user_id", ID, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("subject_id", ID, nullable=False),  # the batch, item or endpoint the event is about
    Column("payload", Text),
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_attempt_at", Float),
    Column("last_status_code", Integer),
    Column("last_error", String(500)),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float),
    Index("ix_webhook_deliveries_endpoint_id", "endpoint_id", "id"),
    Index(
        "ix_webhook_deliveries_due",
        "next_attempt_at",
        sqlite_where=text(PENDING_DELIVERY),
        postgresql_where=text(PENDING_DELIVERY),
    ),
)
