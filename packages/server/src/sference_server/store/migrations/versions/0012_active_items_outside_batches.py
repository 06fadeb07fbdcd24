"""The queued-items count reads batch counters instead of every queued batch row

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 12:30:00

``ix_items_user_active`` held every queued or running item of a user, so the count made at each
submission walked a user's whole queue (a million-row batch: tens of milliseconds per background
response, inside the write lock). Now it holds only items outside batches; a batch's share comes
from its counters, read through a new index of each user's unfinished batches (store/quotas.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

OLD = "status IN ('queued', 'running')"
NEW = "status IN ('queued', 'running') AND batch_id IS NULL"


UNFINISHED_BATCH = "status IN ('ingesting', 'pending', 'running', 'cancelling')"


def upgrade() -> None:
    _replace(NEW)
    unfinished = sa.text(UNFINISHED_BATCH)
    op.create_index(
        "ix_batches_user_unfinished", "batches", ["user_id"], sqlite_where=unfinished, postgresql_where=unfinished
    )


def downgrade() -> None:
    op.drop_index("ix_batches_user_unfinished", table_name="batches")
    _replace(OLD)


def _replace(condition: str) -> None:
    op.drop_index("ix_items_user_active", table_name="items")
    where = sa.text(condition)
    op.create_index("ix_items_user_active", "items", ["user_id"], sqlite_where=where, postgresql_where=where)
