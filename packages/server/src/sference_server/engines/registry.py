"""From the model registry (``Settings.models``) to engines, and to the limits the API checks
at submit time without loading anything.

Each engine kind is one entry of ``ENGINE_KINDS``: how to parse its ``options``, how to build it,
and its limits. Building is lazy: an entry imports its engine only when called (llama.cpp is a
heavy import that the API process never needs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self

from ..config import ModelSpec
from ..domain.chat import Limits
from . import echo
from .base import Engine
from .bert.options import BertOptions
from .llamacpp.options import LlamaCppOptions
from .upstream.options import UpstreamOptions


class EngineOptions(Protocol):
    @classmethod
    def parse(cls, options: dict[str, Any]) -> Self:
        """The typed options of ``ModelSpec.options``; ValueError names any unknown or invalid key."""
        ...


@dataclass(frozen=True)
class BuildContext:
    """What the process (its ``Settings``) gives every engine it builds."""

    cache_dir: Path | None = None  # files an engine derives from its model (re-encoded weights)
    llama_log: bool = False  # let llama.cpp write its own log to stderr
    modality: str = "text_generation"  # what the model is served for (ModelSpec.modality)


@dataclass(frozen=True)
class EngineKind[Options: EngineOptions]:
    """One kind of engine: its options (parsed from ``ModelSpec.options``), how to build it, its
    limits, and what it can be served for (the first modality is the default)."""

    options: type[Options]
    build: Callable[[str, Options, BuildContext], Engine]
    limits: Callable[[Options], Limits]
    modalities: tuple[str, ...] = ("text_generation",)


def _build_echo(model_id: str, options: echo.EchoOptions, _context: BuildContext) -> Engine:
    return echo.EchoEngine(model_id, slots=options.slots, token_delay=options.token_delay)


def _build_llamacpp(model_id: str, options: LlamaCppOptions, context: BuildContext) -> Engine:
    if context.modality == "decisions":
        from .llamacpp.decisions import LlamaDecisionEngine

        return LlamaDecisionEngine(model_id, options, cache_dir=context.cache_dir, llama_log=context.llama_log)
    from .llamacpp.engine import LlamaCppEngine

    return LlamaCppEngine(model_id, options, cache_dir=context.cache_dir, llama_log=context.llama_log)


def _build_bert(model_id: str, options: BertOptions, _context: BuildContext) -> Engine:
    from .bert.engine import BertEngine

    return BertEngine(model_id, options)


def _build_upstream(model_id: str, options: UpstreamOptions, _context: BuildContext) -> Engine:
    from .upstream.engine import UpstreamEngine

    return UpstreamEngine(model_id, options)


ENGINE_KINDS: dict[str, EngineKind[Any]] = {
    "llamacpp": EngineKind(
        options=LlamaCppOptions,
        build=_build_llamacpp,
        limits=lambda options: Limits(max_tokens=options.max_tokens_limit),
        modalities=("text_generation", "decisions"),
    ),
    "openai": EngineKind(
        options=UpstreamOptions,
        build=_build_upstream,
        limits=lambda options: Limits(max_tokens=options.context_tokens - 1, tools=True),
    ),
    "bert": EngineKind(
        options=BertOptions,
        build=_build_bert,
        limits=lambda options: Limits(max_tokens=0, context_tokens=options.max_tokens, dimensions=options.dimensions),
        modalities=("text_embedding",),
    ),
    "echo": EngineKind(
        options=echo.EchoOptions,
        build=_build_echo,
        limits=lambda _options: Limits(max_tokens=echo.MAX_TOKENS),
    ),
}


def engine_kind(name: str) -> EngineKind[Any]:
    kind = ENGINE_KINDS.get(name)
    if kind is None:
        raise ValueError(f"unknown engine {name!r}; available engines: {', '.join(sorted(ENGINE_KINDS))}")
    return kind


def limits(spec: ModelSpec) -> Limits:
    kind = engine_kind(spec.engine)
    modality(spec)
    return kind.limits(kind.options.parse(spec.options))


def modality(spec: ModelSpec) -> str:
    """What ``spec`` is served for: its ``modality``, which its engine kind must offer, or the kind's default."""
    offered = engine_kind(spec.engine).modalities
    if spec.modality is None:
        return offered[0]
    if spec.modality not in offered:
        raise ValueError(f"engine {spec.engine!r} serves {', '.join(offered)}, not {spec.modality!r}")
    return spec.modality


def context_tokens(spec: ModelSpec) -> int:
    return limits(spec).context


def build_engine(spec: ModelSpec, *, cache_dir: Path | None = None, llama_log: bool = False) -> Engine:
    """``cache_dir`` holds files an engine derives from its model (re-encoded weights);
    ``llama_log`` is ``Settings.llama_log``."""
    kind = engine_kind(spec.engine)
    context = BuildContext(cache_dir, llama_log, modality(spec))
    return kind.build(spec.id, kind.options.parse(spec.options), context)
