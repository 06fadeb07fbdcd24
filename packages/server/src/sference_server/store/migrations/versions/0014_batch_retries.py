"""Batches that re-run another batch's failed, expired and cancelled rows

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 17:30:00

``POST /v1/batches/{id}/retry`` makes a batch of the rows of a finished batch that did not
complete; ``retry_of`` names that batch, so its results can be merged with the original's
(``results.jsonl?merged=true``). A plain column: a foreign key on SQLite would rebuild ``batches``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("batches", sa.Column("retry_of", sa.String(length=36), nullable=True))


def downgrade() -> None:
    op.drop_column("batches", "retry_of")
