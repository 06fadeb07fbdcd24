"""From the model registry (``Settings.models``) to engines, and to the limits the API checks
at submit time without loading anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import ModelSpec
from ..domain.chat import Limits
from .base import Engine
from .echo import EchoEngine

ECHO_MAX_TOKENS = 4096


def _echo_options(options: dict[str, Any]) -> dict[str, Any]:
    unknown = set(options) - {"slots", "token_delay"}
    if unknown:
        raise ValueError(f"unknown echo options: {', '.join(sorted(unknown))}")
    return options


def limits(spec: ModelSpec) -> Limits:
    if spec.engine == "llamacpp":
        from .llamacpp.options import LlamaCppOptions

        return Limits(max_tokens=LlamaCppOptions.parse(spec.options).max_tokens_limit)
    _echo_options(spec.options)
    return Limits(max_tokens=ECHO_MAX_TOKENS)


def context_tokens(spec: ModelSpec) -> int:
    return limits(spec).max_tokens + 1


def build_engine(spec: ModelSpec, *, cache_dir: Path | None = None) -> Engine:
    """``cache_dir`` holds files an engine derives from its model (re-encoded weights)."""
    if spec.engine == "llamacpp":
        from .llamacpp.engine import LlamaCppEngine
        from .llamacpp.options import LlamaCppOptions

        return LlamaCppEngine(spec.id, LlamaCppOptions.parse(spec.options), cache_dir=cache_dir)
    return EchoEngine(spec.id, **_echo_options(spec.options))
