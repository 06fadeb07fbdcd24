"""Held batch rows: a big batch's rows are written out of every claim's reach until it is whole

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 23:40:00

While a batch of more than 50,000 rows is ingested its rows carry a priority above every real one,
so claims never walk them; publishing the batch releases them a chunk per transaction, from
``batches.held_from`` on (store/ingest.py). The index finds the batches a crash left half
released (the sweep finishes them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

HELD = "held_from IS NOT NULL"


def upgrade() -> None:
    op.add_column("batches", sa.Column("held_from", sa.Integer(), nullable=True))
    op.create_index("ix_batches_held", "batches", ["id"], sqlite_where=sa.text(HELD), postgresql_where=sa.text(HELD))


def downgrade() -> None:
    op.drop_index("ix_batches_held", table_name="batches")
    op.drop_column("batches", "held_from")
