"""Per-user limits: requests per minute, concurrent interactive requests, queued items

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 07:00:00

NULL means the server's default (config.Settings); an admin sets them per user. The partial index
counts a user's queued and running items at submit time (store/quotas.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("requests_per_minute", sa.Integer()))
    op.add_column("users", sa.Column("max_concurrent_interactive", sa.Integer()))
    op.add_column("users", sa.Column("max_queued_items", sa.Integer()))
    active = sa.text("status IN ('queued', 'running')")
    op.create_index("ix_items_user_active", "items", ["user_id"], sqlite_where=active, postgresql_where=active)


def downgrade() -> None:
    op.drop_index("ix_items_user_active", table_name="items")
    op.drop_column("users", "max_queued_items")
    op.drop_column("users", "max_concurrent_interactive")
    op.drop_column("users", "requests_per_minute")
