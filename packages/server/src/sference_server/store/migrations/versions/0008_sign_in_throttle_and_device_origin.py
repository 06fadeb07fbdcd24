"""Sign-in throttling per address and username; where a device sign-in came from

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 07:00:00

Failed sign-ins are counted per client address and per username in one table of decaying scores
(security/throttle.py), instead of the lock-out of users.failed_logins/locked_until (dropped: it
let anybody lock the admin out); device sign-in requests per address are counted there too. A
device code remembers the address and user agent that asked for it, so the approval page can
show them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_failures",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sign_in_failures")),
    )
    op.add_column("device_codes", sa.Column("requested_ip", sa.String(64)))
    op.add_column("device_codes", sa.Column("requested_agent", sa.String(300)))
    # The lock-out these kept (it let anybody lock the admin out) gives way to the throttle.
    op.drop_column("users", "locked_until")
    op.drop_column("users", "failed_logins")


def downgrade() -> None:
    op.add_column("users", sa.Column("failed_logins", sa.Integer(), server_default=sa.text("0"), nullable=False))
    op.add_column("users", sa.Column("locked_until", sa.Float()))
    op.drop_column("device_codes", "requested_agent")
    op.drop_column("device_codes", "requested_ip")
    op.drop_table("sign_in_failures")
