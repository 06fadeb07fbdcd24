"""Request bodies of the streams API (contract §2.5)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class StreamCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    window: Literal["1h", "24h"] = "24h"


class StreamPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    status: Literal["cancelled", "archived"] | None = None
