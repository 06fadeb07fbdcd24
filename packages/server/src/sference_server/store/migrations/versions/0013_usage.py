"""usage per user, model and UTC day

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 18:00:00

``usage_days`` holds, per user, model and UTC day, how many requests finished in each way and
their tokens (store/usage.py says why a rollup, and how it is kept). It is filled in from the
items that finished so far, in one INSERT … SELECT: the day from ``completed_at``, prompt and
completion tokens from their columns, cached and reasoning tokens from the stored result
(``usage.cached_tokens``, ``usage.reasoning_tokens``; the JSON lookup and the date are written out
per dialect here).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

STATUSES = ("completed", "failed", "cancelled", "expired")
COUNTS = (*(f"{status}_count" for status in STATUSES), "prompt_tokens", "completion_tokens")
TOKENS = ("cached_tokens", "reasoning_tokens")


def _day(dialect: str) -> str:
    """SQL for the UTC date of ``items.completed_at`` as ``YYYY-MM-DD``."""
    if dialect == "postgresql":
        return "to_char(to_timestamp(completed_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    return "date(completed_at, 'unixepoch')"


def _usage(field: str, dialect: str) -> str:
    """SQL for ``items.result -> usage -> field`` as an integer (NULL when absent)."""
    if dialect == "postgresql":
        return f"CAST(CAST(result AS json) -> 'usage' ->> '{field}' AS BIGINT)"
    return f"CAST(json_extract(result, '$.usage.{field}') AS INTEGER)"


def upgrade() -> None:
    op.create_table(
        "usage_days",
        sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", name="fk_usage_days_user_id_users")),
        sa.Column("day", sa.String(10)),
        sa.Column("model", sa.String(255)),
        *(
            sa.Column(f"{status}_count", sa.Integer(), nullable=False, server_default=sa.text("0"))
            for status in STATUSES
        ),
        *(
            sa.Column(name, sa.BigInteger(), nullable=False, server_default=sa.text("0"))
            for name in ("prompt_tokens", "completion_tokens", *TOKENS)
        ),
        sa.PrimaryKeyConstraint("user_id", "day", "model", name="pk_usage_days"),
    )
    op.create_index("ix_usage_days_day", "usage_days", ["day"])
    dialect = op.get_bind().dialect.name
    statuses = ", ".join(f"'{status}'" for status in STATUSES)
    counts = [f"SUM(CASE WHEN status = '{status}' THEN 1 ELSE 0 END)" for status in STATUSES]
    counts += ["COALESCE(SUM(prompt_tokens), 0)", "COALESCE(SUM(completion_tokens), 0)"]
    counts += [f"COALESCE(SUM({_usage(name, dialect)}), 0)" for name in TOKENS]
    op.execute(
        f"INSERT INTO usage_days (user_id, day, model, {', '.join((*COUNTS, *TOKENS))}) "
        f"SELECT user_id, {_day(dialect)}, model, {', '.join(counts)} FROM items "
        f"WHERE status IN ({statuses}) AND completed_at IS NOT NULL "
        f"GROUP BY user_id, {_day(dialect)}, model"
    )


def downgrade() -> None:
    op.drop_index("ix_usage_days_day", table_name="usage_days")
    op.drop_table("usage_days")
