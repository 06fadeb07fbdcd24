"""``GET /v1/models``: the served models."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ...engines.registry import context_tokens
from ..deps import Reader, ServicesDep

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("")
def list_models(services: ServicesDep, _who: Reader) -> dict[str, Any]:
    data = []
    for spec in services.core.catalog.specs:
        data.append(
            {
                "id": spec.id,
                "object": "model",
                "created": int(services.core.started_at),
                "owned_by": "sference",
                "display_name": spec.display_name or spec.id,
                "provider": spec.id.split("/")[0] if "/" in spec.id else "sference",
                "modality": "text_generation",
                "engine": spec.engine,
                "context_tokens": context_tokens(spec),
                "capabilities": {
                    "image_input": False,
                    "pdf_input": False,
                    "tools": {"supported": False},
                    "thinking": {"supported": False},
                },
            }
        )
    return {"object": "list", "data": data}
