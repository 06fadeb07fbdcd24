"""``GET /v1/auth/me``: who the credential belongs to."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..deps import Reader
from ..openapi import AUTHENTICATED, documented
from .schemas import Me

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.get("/me", response_model=None, responses=documented(Me, *AUTHENTICATED))
def me(who: Reader) -> dict[str, Any]:
    return {
        "id": who.user_id,
        "username": who.username,
        "role": who.role,
        "realtime_enabled": True,
        "api_key": {"id": who.key_id, "name": who.key_name, "prefix": who.key_prefix, "scopes": sorted(who.scopes)},
    }
