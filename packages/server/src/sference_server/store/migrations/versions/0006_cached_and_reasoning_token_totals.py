"""cached and reasoning token totals per batch and stream

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00

Batches and streams count, next to their prompt and completion tokens, the prompt tokens served
from a prefix cache and the completion tokens spent thinking. Existing rows are filled in from
their items' stored results (``items.result``: ``usage.cached_tokens``, ``usage.reasoning_tokens``,
kind ``chat`` since 0005), one UPDATE per table; the JSON lookup is written out per dialect here.

Plain ``ALTER TABLE … ADD/DROP COLUMN``, on SQLite too (3.35 or later): batch mode would copy the
tables, and SQLite refuses to drop ``batches`` while items refer to it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = {"batches": "batch_id", "streams": "stream_id"}
COLUMNS = ("cached_tokens", "reasoning_tokens")


def _usage(field: str, dialect: str) -> str:
    """SQL for ``items.result -> usage -> field`` as an integer (NULL when absent)."""
    if dialect == "postgresql":
        return f"CAST(CAST(items.result AS json) -> 'usage' ->> '{field}' AS BIGINT)"
    return f"CAST(json_extract(items.result, '$.usage.{field}') AS INTEGER)"


def _backfill(table: str, owner: str, dialect: str) -> None:
    sums = ", ".join(
        f"{column} = COALESCE((SELECT SUM({_usage(column, dialect)}) FROM items "
        f"WHERE items.{owner} = {table}.id AND items.result IS NOT NULL), 0)"
        for column in COLUMNS
    )
    op.execute(
        f"UPDATE {table} SET {sums} "
        f"WHERE id IN (SELECT {owner} FROM items WHERE {owner} IS NOT NULL AND result IS NOT NULL)"
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table, owner in TABLES.items():
        for column in COLUMNS:
            op.add_column(table, sa.Column(column, sa.BigInteger(), server_default=sa.text("0"), nullable=False))
        _backfill(table, owner, dialect)


def downgrade() -> None:
    for table in TABLES:
        for column in reversed(COLUMNS):
            op.drop_column(table, column)
