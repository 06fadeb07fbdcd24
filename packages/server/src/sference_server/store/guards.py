"""Guarded status changes: an UPDATE that only matches a row in a state the target may be
reached from (domain/states.py). One that matches nothing raises ``IllegalTransition``."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import Table, select, update

from ..domain.states import IllegalTransition, sources
from .database import Tx


def move[S: StrEnum](
    tx: Tx,
    table: Table,
    row_id: str,
    target: S,
    transitions: Mapping[S, frozenset[S]],
    *,
    what: str,
    **values: Any,
) -> None:
    """Move one row of ``table`` to ``target`` (with ``values``), or raise ``IllegalTransition``
    naming the state it is in."""
    allowed = sources(transitions, target)
    result = tx.execute(
        update(table)
        .where(table.c.id == row_id, table.c.status.in_([str(s) for s in allowed]))
        .values(status=str(target), **values)
    )
    if result.rowcount != 1:
        current = tx.execute(select(table.c.status).where(table.c.id == row_id)).scalar()
        raise IllegalTransition(f"{what} {row_id}", current, str(target))
