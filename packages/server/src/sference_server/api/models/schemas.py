"""What ``GET /v1/models`` answers: the sference model list (contract §4.3
``V1ModelListResponse``) with Anthropic's fields beside it."""

from __future__ import annotations

from typing import Literal

from ..openapi import Wire


class Supported(Wire):
    supported: bool


class Capabilities(Wire):
    image_input: bool
    pdf_input: bool
    tools: Supported
    thinking: Supported
    dimensions: int | None = None  # embedding models: the length of a vector


class Model(Wire):
    id: str
    object: Literal["model"]
    type: Literal["model"]
    created: int
    created_at: str
    owned_by: str
    display_name: str
    provider: str
    modality: Literal["text_generation", "text_embedding", "decisions"]
    engine: str
    context_tokens: int
    max_input_tokens: int
    max_tokens: int
    capabilities: Capabilities


class ModelList(Wire):
    object: Literal["list"]
    data: list[Model]
    first_id: str | None
    last_id: str | None
    has_more: Literal[False]
