"""streams and responses

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 15:59:31.365529
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "streams",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("window", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("cancelled_at", sa.Float(), nullable=True),
        sa.Column("archived_at", sa.Float(), nullable=True),
        sa.Column("request_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("queued_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("running_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("completed_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("failed_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("cancelled_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("expired_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_streams_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_streams")),
    )
    with op.batch_alter_table("streams", schema=None) as batch_op:
        batch_op.create_index("ix_streams_user_id", ["user_id", "id"], unique=False)

    with op.batch_alter_table("completion_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stream_id", sa.String(length=36), nullable=True))
        batch_op.drop_index(batch_op.f("ix_completion_events_user_id"))
        batch_op.create_index("ix_completion_events_feed", ["user_id", "stream_id", "id"], unique=False)

    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stream_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("metadata", sa.Text(), nullable=True))
        batch_op.create_index(
            "ix_items_responses",
            ["user_id", "stream_id", "id"],
            unique=False,
            sqlite_where=sa.text("batch_id IS NULL"),
            postgresql_where=sa.text("batch_id IS NULL"),
        )
        batch_op.create_foreign_key(batch_op.f("fk_items_stream_id_streams"), "streams", ["stream_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_items_stream_id_streams"), type_="foreignkey")
        batch_op.drop_index(
            "ix_items_responses", sqlite_where=sa.text("batch_id IS NULL"), postgresql_where=sa.text("batch_id IS NULL")
        )
        batch_op.drop_column("metadata")
        batch_op.drop_column("stream_id")

    with op.batch_alter_table("completion_events", schema=None) as batch_op:
        batch_op.drop_index("ix_completion_events_feed")
        batch_op.create_index(batch_op.f("ix_completion_events_user_id"), ["user_id", "id"], unique=False)
        batch_op.drop_column("stream_id")

    with op.batch_alter_table("streams", schema=None) as batch_op:
        batch_op.drop_index("ix_streams_user_id")

    op.drop_table("streams")
