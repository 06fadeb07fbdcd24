"""Options of an ``openai`` (upstream) model (importable without httpx)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..options import refuse_unknown


@dataclass(frozen=True)
class UpstreamOptions:
    """``options`` of an ``openai`` model in the model registry."""

    # One or more replicas serving the same model, each as the ``openai`` client's ``base_url``.
    base_urls: tuple[str, ...] = ()
    upstream_model: str | None = None  # the model's name on the upstream; default: the model id
    api_key_env: str | None = None  # the environment variable holding the upstream's API key
    context_tokens: int = 8192  # the model's context; requests asking more are refused at submit
    extra_body: dict[str, Any] = field(default_factory=dict)  # merged into every request body
    connect_timeout: float = 10.0  # seconds to open a connection
    request_timeout: float = 600.0  # seconds one request may take, answer included
    # Requests in flight per replica: the adaptive limit starts at ``initial_concurrency`` and moves
    # between 1 and ``max_concurrency``.
    initial_concurrency: int = 8
    max_concurrency: int = 256
    # How much slower per generated token a replica may get (against its best recent figure)
    # before the limit backs off.
    latency_tolerance: float = 2.0
    # While interactive requests arrive, the share of each replica's limit batch work leaves free
    # for them; default 1 - 1/latency_tolerance: batch work stays where the replica runs it at
    # full speed, so an interactive request finds a free slot instead of the upstream's queue.
    interactive_reserve: float | None = None
    # Characters of the prompt that choose the replica (requests sharing them go to the same one,
    # so its prefix cache hits); 0 spreads requests by load only.
    prefix_chars: int = 2048
    probe_seconds: float = 5.0  # how often a replica that is out is probed
    failures_to_eject: int = 3  # consecutive failures that take a replica out
    unready_after_seconds: float = 30.0  # every replica out this long: the model is not ready
    retry_seconds: float = 300.0  # how long one request is retried on throttling and failures

    def __post_init__(self) -> None:
        if not self.base_urls:
            raise ValueError("base_urls: give at least one replica, e.g. ['http://gpu-1:8000/v1']")
        for url in self.base_urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"base_urls: {url!r} is not an http(s) URL")
        if len(set(self.base_urls)) != len(self.base_urls):
            raise ValueError("base_urls: a replica is listed twice")
        if not 1 <= self.initial_concurrency <= self.max_concurrency:
            raise ValueError("initial_concurrency must be between 1 and max_concurrency")
        if self.latency_tolerance < 1.0:
            raise ValueError("latency_tolerance must be at least 1.0")
        if self.interactive_reserve is not None and not 0.0 <= self.interactive_reserve < 1.0:
            raise ValueError("interactive_reserve must be at least 0 and below 1")
        if self.context_tokens < 2:
            raise ValueError("context_tokens must be at least 2")
        for name in ("connect_timeout", "request_timeout", "probe_seconds", "retry_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")

    @classmethod
    def parse(cls, options: dict[str, Any]) -> UpstreamOptions:
        refuse_unknown("openai", options, cls)
        values = dict(options)
        urls = values.get("base_urls", ())
        if isinstance(urls, str):
            urls = [urls]
        values["base_urls"] = tuple(str(url).rstrip("/") for url in urls)
        if not isinstance(values.get("extra_body", {}), dict):
            raise ValueError("extra_body must be a JSON object")
        return cls(**values)

    @property
    def reserve_share(self) -> float:
        if self.interactive_reserve is not None:
            return self.interactive_reserve
        return 1.0 - 1.0 / self.latency_tolerance

    def api_key(self) -> str | None:
        """The key, read from the environment when the engine starts (never stored)."""
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ValueError(f"api_key_env: the environment variable {self.api_key_env} is not set")
        return key
