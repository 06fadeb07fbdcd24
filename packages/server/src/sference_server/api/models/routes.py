"""``GET /v1/models``: the served models, in the sference shape (contract §4.3
``V1ModelListResponse``) with Anthropic's fields beside it, so ``sference models``, the OpenAI
clients and Anthropic clients (``sference launch claude``) all read the same list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ...catalog import ModelCatalog
from ...config import ModelSpec
from ...timeutil import iso
from ..deps import Reader, ServicesDep
from ..openapi import AUTHENTICATED, documented
from .schemas import ModelList

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=None, responses=documented(ModelList, *AUTHENTICATED))
def list_models(services: ServicesDep, _who: Reader) -> dict[str, Any]:
    catalog = services.core.catalog
    created = int(services.core.started_at)
    data = [_model(catalog, spec, created) for spec in catalog.specs]
    return {
        "object": "list",
        "data": data,
        # Anthropic's list: one page.
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": False,
    }


def _model(catalog: ModelCatalog, spec: ModelSpec, created: int) -> dict[str, Any]:
    bounds = catalog.limits(spec.id)
    assert bounds is not None  # a spec of the catalog
    capabilities: dict[str, Any] = {
        "image_input": False,
        "pdf_input": False,
        "tools": {"supported": bounds.tools},
        "thinking": {"supported": False},
    }
    if bounds.dimensions is not None:
        capabilities["dimensions"] = bounds.dimensions
    return {
        "id": spec.id,
        "object": "model",
        "type": "model",  # Anthropic's
        "created": created,
        "created_at": iso(created),  # Anthropic's
        "owned_by": "sference",
        "display_name": spec.display_name or spec.id,
        "provider": spec.id.split("/")[0] if "/" in spec.id else "sference",
        "modality": catalog.modality(spec.id),
        "engine": spec.engine,
        "context_tokens": bounds.context,
        "max_input_tokens": bounds.context,  # Anthropic's
        "max_tokens": bounds.max_tokens,  # Anthropic's: the most output tokens per request
        "capabilities": capabilities,
    }
