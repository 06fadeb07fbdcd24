"""results in a neutral shape

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 00:40:00

``items.result`` held the OpenAI ``chat.completion`` the worker built; it now holds what the
engine produced (``domain/outcome.py``, kind ``chat``) and each surface renders its own shape.
Rows are rewritten in pages by id; the conversion is written out here (not imported) so this
migration keeps meaning what it meant when the code moves on.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PAGE = 1000


def neutral(completion: dict[str, Any], _item_id: str, _model: str) -> dict[str, Any] | None:
    """A stored ``chat.completion`` as the neutral chat output (None: not in that shape)."""
    if completion.get("object") != "chat.completion":
        return None
    choice = completion["choices"][0]
    usage = completion.get("usage") or {}
    created = float(completion.get("created") or 0)
    return {
        "kind": "chat",
        "text": choice["message"].get("content") or "",
        "finish_reason": choice.get("finish_reason") or "stop",
        "usage": {
            "prompt_tokens": usage.get("prompt_tokens", 0),
            "completion_tokens": usage.get("completion_tokens", 0),
            "cached_tokens": (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0),
            "reasoning_tokens": 0,
        },
        "timings": {"started_at": created, "finished_at": created},
    }


def chat_completion(document: dict[str, Any], item_id: str, model: str) -> dict[str, Any] | None:
    """The inverse, for a downgrade."""
    if document.get("kind") != "chat":
        return None
    usage = document["usage"]
    return {
        "id": f"chatcmpl-{item_id}",
        "object": "chat.completion",
        "created": int(document["timings"]["finished_at"]),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": document["text"]},
                "logprobs": None,
                "finish_reason": document["finish_reason"],
            }
        ],
        "usage": {
            "prompt_tokens": usage["prompt_tokens"],
            "completion_tokens": usage["completion_tokens"],
            "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"],
            "prompt_tokens_details": {"cached_tokens": usage["cached_tokens"]},
        },
    }


def _rewrite(convert: Callable[[dict[str, Any], str, str], dict[str, Any] | None]) -> None:
    """Page through every stored result by id and convert those in the source shape."""
    conn = op.get_bind()
    items = sa.table("items", sa.column("id", sa.String), sa.column("model", sa.String), sa.column("result", sa.Text))
    after = ""
    while True:
        rows = conn.execute(
            sa.select(items.c.id, items.c.model, items.c.result)
            .where(items.c.id > after, items.c.result.isnot(None))
            .order_by(items.c.id)
            .limit(PAGE)
        ).all()
        for row in rows:
            new = convert(json.loads(row.result), row.id, row.model)
            if new is not None:
                text = json.dumps(new, separators=(",", ":"))
                conn.execute(sa.update(items).where(items.c.id == row.id).values(result=text))
        if len(rows) < PAGE:
            return
        after = rows[-1].id


def upgrade() -> None:
    _rewrite(neutral)


def downgrade() -> None:
    _rewrite(chat_completion)
