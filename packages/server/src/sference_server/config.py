"""Settings: one typed source for every flag and environment variable (prefix ``SFERENCE_``).

Command-line options of ``sference-server`` override these; ``docs/configuration.md`` lists them.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

EMBEDDED_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
EMBEDDING_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DECISIONS_MODEL_ID = "sference/smollm2-135m-decisions"

Modality = Literal["text_generation", "text_embedding", "decisions"]


class ModelSpec(BaseModel):
    """One served model: the id clients send in ``body.model`` and the engine that runs it."""

    id: str
    # A kind of engines/registry.py ``ENGINE_KINDS`` ("llamacpp", "echo"); checked by ModelCatalog.
    engine: str
    display_name: str | None = None
    # Options passed to the engine (see engines/registry.py for each engine's keys).
    options: dict[str, Any] = Field(default_factory=dict)
    # What the model does: "text_generation" (chat), "text_embedding" or "decisions"; default:
    # the engine kind's first modality (engines/registry.py ``EngineKind.modalities``).
    modality: Modality | None = None


def default_models() -> list[ModelSpec]:
    return [
        ModelSpec(
            id=EMBEDDED_MODEL_ID,
            engine="llamacpp",
            display_name="SmolLM2 135M Instruct (embedded, CPU)",
            # The sampling defaults of the model card, and a length cap for requests that set none
            # (this small model tends to ramble to the end of its context); requests override them.
            # Its Q4_1 weights are re-encoded once as BF16 where the CPU kernels multiply BF16 natively,
            # else F16: 1.9x / 1.35x faster in batches (engines/llamacpp/repack.py, kernels.py).
            options={"temperature": 0.2, "top_p": 0.9, "max_tokens": 512, "weights": "auto"},
        ),
        ModelSpec(
            id=EMBEDDING_MODEL_ID,
            engine="bert",
            display_name="all-MiniLM-L6-v2 (embedded, CPU)",
        ),
        # The same small model, answering /v1/decisions from its next-token probabilities.
        ModelSpec(
            id=DECISIONS_MODEL_ID,
            engine="llamacpp",
            modality="decisions",
            display_name="SmolLM2 135M decisions (embedded, CPU)",
        ),
    ]


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "sference"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SFERENCE_", extra="ignore")

    # Where the store lives. ``database_url`` wins; otherwise a SQLite file in ``data_dir``.
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    # The address users reach the console at (behind a proxy); default: the address of the request.
    console_url: str | None = None
    # How often a CLI in the device sign-in flow may poll (RFC 8628 "interval").
    device_poll_seconds: float = 5.0
    # Device sign-in limits per client address: a count of requests that halves every minute
    # may reach this many (codes asked for; token requests, polls and refreshes).
    device_codes_per_address: float = 10.0
    device_tokens_per_address: float = 60.0
    # How long a device sign-in lasts from its approval; then refreshing fails and the CLI signs in again.
    device_sign_in_days: float = 30.0
    # Console sign-in throttling: failures (a count that halves every half-life) per client
    # address, and per username from addresses that have failed too (security/throttle.py).
    sign_in_failures_per_address: float = 10.0
    sign_in_failures_per_user: float = 5.0
    sign_in_half_life_seconds: float = 600.0
    # Reverse proxies whose X-Forwarded-For names the client (addresses or networks, comma
    # separated); default none: the client is the peer of the connection.
    trusted_proxies: str = ""

    models: list[ModelSpec] = Field(default_factory=default_models)

    # Bootstrap credentials, used when the store has no user yet (and to register the key later).
    admin_username: str = "admin"
    admin_api_key: SecretStr | None = None
    admin_password: SecretStr | None = None

    # Queue and worker.
    worker_id: str | None = None
    lease_seconds: float = 60.0
    max_attempts: int = 3
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 60.0
    poll_seconds: float = 0.5
    sweep_seconds: float = 5.0
    # Within a priority, requests this close to their deadline are claimed earliest deadline
    # first, ahead of the fair share between users (store/fairness.py).
    urgent_seconds: float = 1800.0
    # How long a measured throughput and a completion estimate are reused (services/estimates.py).
    estimate_cache_seconds: float = Field(default=5.0, ge=0)

    # Ingest limits.
    max_batch_bytes: int = 2 * 1024**3
    max_batch_requests: int = 1_000_000
    max_request_bytes: int = 8 * 1024**2  # any other JSON body (POST /v1/responses, ...)
    # Bodies of console forms (/login, ...) and device sign-in (/v1/oauth/...).
    max_form_bytes: int = 64 * 1024
    # The longest line of a JSONL file (an OpenAI batch input file); a longer one is refused by number.
    max_line_bytes: int = 8 * 1024**2
    # Per-user limits, the defaults (an admin sets a user's own: sference-server users set-limits);
    # 0: no limit. Requests per minute counts every authenticated API request, per API process.
    requests_per_minute: int = Field(default=6000, ge=0)
    # Interactive requests (a client waits on the connection) running at once, per API process.
    max_concurrent_interactive: int = Field(default=64, ge=0)
    # Items queued or running (batch rows, stream items, background responses) at submit time.
    max_queued_items: int = Field(default=10_000_000, ge=0)
    # How long a blocking request (chat completions, responses) may wait for its answer.
    interactive_timeout_seconds: float = 600.0
    # How long POST /v1/responses waits (API versions that block) before it cancels and answers
    # 504: below the published CLI's 600 s read timeout, so the client sees the server's answer.
    blocking_response_seconds: float = 300.0

    # Webhooks (docs/operations.md "Webhooks"). Endpoints on loopback, private, link-local or
    # otherwise non-public addresses are refused (at registration and when a delivery's host name
    # resolves) unless this is on: a user could otherwise reach the server's own network.
    webhook_allow_private: bool = False
    # Waits after the 1st, 2nd, ... failed attempt of a delivery (the last one repeats; ±20 %
    # jitter), until ``webhook_retry_window_seconds`` after the event: then it is ``failed``.
    webhook_retry_seconds: list[float] = Field(default=[5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0], min_length=1)
    webhook_retry_window_seconds: float = Field(default=24 * 3600.0, gt=0)
    # One attempt's limit, all of it (lookup, connect, send, the answer's headers); redirects are
    # not followed. A claim holds a delivery for this plus a minute, at least two minutes.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # How often a deliverer looks for due deliveries (it also wakes when a request finishes here).
    webhook_poll_seconds: float = Field(default=1.0, gt=0)

    # Serve Swagger UI at /docs (it loads its scripts and styles from a CDN, so it is off by default).
    api_docs: bool = False

    # Prometheus metrics (docs/operations.md#monitoring): GET /metrics on the API port answers
    # requests that carry this token as a bearer token (off without one); and/or every process
    # (serve, api, worker) serves /metrics without a token on ``metrics_host:metrics_port``.
    metrics_token: SecretStr | None = None
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"

    # Logs: the level of the server's own log, its format ("text" or "json": one object a line),
    # and whether llama.cpp may write its log to stderr.
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    llama_log: bool = False

    @field_validator("database_url")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _blank_token_is_none(cls, value: Any) -> Any:
        # An empty token would match a request that sends none: ``SFERENCE_METRICS_TOKEN=`` is off.
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in value.replace(",", " ").split():
            ipaddress.ip_network(part, strict=False)  # a ValueError names the part
        return value

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @field_validator("llama_log", mode="before")
    @classmethod
    def _any_word_is_true(cls, value: Any) -> Any:
        # SFERENCE_LLAMA_LOG=1 is documented, but any value other than empty/0/false/no/off turns it on.
        if isinstance(value, str):
            return value.strip().lower() not in ("", "0", "false", "no", "off")
        return value

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'sference.db'}"

    def model(self, model_id: str) -> ModelSpec | None:
        return next((m for m in self.models if m.id == model_id), None)

    def served_model_ids(self) -> list[str]:
        return [m.id for m in self.models]
