"""openai files and batches, priorities

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 16:53:52.523514
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Priority 0 now means "interactive" (a client waits); everything queued so far was not.
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.alter_column(
            "priority", existing_type=sa.Integer(), existing_nullable=False, server_default=sa.text("1")
        )
    op.execute("UPDATE items SET priority = 1 WHERE priority = 0")
    op.create_table(
        "files",
        sa.Column("id", sa.String(length=48), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("deleted_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name=op.f("fk_files_batch_id_batches")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_files_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
    )
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.create_index("ix_files_user_id", ["user_id", "id"], unique=False)

    op.create_table(
        "openai_batches",
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("endpoint", sa.String(length=64), nullable=False),
        sa.Column("input_file_id", sa.String(length=48), nullable=False),
        sa.Column("output_file_id", sa.String(length=48), nullable=True),
        sa.Column("error_file_id", sa.String(length=48), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=True),
        sa.Column("errors", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name=op.f("fk_openai_batches_batch_id_batches")),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_openai_batches")),
    )
    op.create_table(
        "file_chunks",
        sa.Column("file_id", sa.String(length=48), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["files.id"], name=op.f("fk_file_chunks_file_id_files")),
        sa.PrimaryKeyConstraint("file_id", "seq", name=op.f("pk_file_chunks")),
    )


def downgrade() -> None:
    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.alter_column(
            "priority", existing_type=sa.Integer(), existing_nullable=False, server_default=sa.text("0")
        )
    op.drop_table("file_chunks")
    op.drop_table("openai_batches")
    with op.batch_alter_table("files", schema=None) as batch_op:
        batch_op.drop_index("ix_files_user_id")

    op.drop_table("files")
