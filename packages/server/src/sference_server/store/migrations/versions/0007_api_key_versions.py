"""API keys carry an API version

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 05:00:00

Each key answers in the API version chosen when it was made (domain/versions.py). Existing keys
get the seed's version, the one they have always been answered in.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SEED_VERSION = "2025-10-01"


def upgrade() -> None:
    op.add_column(
        "api_keys",
        sa.Column("api_version", sa.String(16), nullable=False, server_default=SEED_VERSION),
    )


def downgrade() -> None:
    op.drop_column("api_keys", "api_version")
