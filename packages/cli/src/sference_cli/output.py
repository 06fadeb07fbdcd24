"""Printing results: JSON for machines (``--json``), short text for people."""

from __future__ import annotations

import json
from typing import Any

import typer
from pydantic import BaseModel


def as_data(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def print_json(value: Any) -> None:
    typer.echo(json.dumps(as_data(value), indent=2))


def print_fields(value: Any, fields: list[str] | None = None) -> None:
    data = as_data(value)
    keys = fields or list(data)
    width = max(len(k) for k in keys)
    for key in keys:
        item = data.get(key)
        if isinstance(item, dict):
            item = ", ".join(f"{k}={v}" for k, v in item.items())
        typer.echo(f"{key:<{width}}  {'-' if item is None else item}")
