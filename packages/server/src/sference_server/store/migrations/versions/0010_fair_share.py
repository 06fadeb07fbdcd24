"""Fair share between users: a fair key per item and each user's tail

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 07:20:00

Within one priority, queued items are claimed in fair-key order (users interleaved, see
store/fairness.py) unless their deadline is near. Existing items get key 0: they go first, as
they would have.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("items", sa.Column("fair_key", sa.Float(), nullable=False, server_default=sa.text("0")))
    op.create_index(
        "ix_items_fair",
        "items",
        ["model", "priority", "fair_key", "id"],
        unique=False,
        sqlite_where=sa.text("status = 'queued'"),
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_table(
        "fair_tails",
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("window", sa.Integer(), nullable=False),
        sa.Column("tail", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "model", "priority", "window", name=op.f("pk_fair_tails")),
    )


def downgrade() -> None:
    op.drop_table("fair_tails")
    op.drop_index("ix_items_fair", table_name="items")
    op.drop_column("items", "fair_key")
