"""Import batches, frozen copies of exported reports, editable reference documents;
report.media_url/extra_json (Open311 fields kept on import); category.active.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

from ihanoi_core.db import UTCDateTime
from ihanoi_core.db_triggers import create_append_only_triggers, drop_append_only_triggers

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_str = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "import_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", _str(length=64), nullable=False),
        sa.Column("filename", _str(length=300), nullable=False),
        sa.Column("format", _str(length=16), nullable=False),
        sa.Column("sha256", _str(length=64), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("outcome", _str(length=16), nullable=False),
        sa.Column("errors_json", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "reference_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _str(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["updated_by"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "report_snapshot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", _str(length=32), nullable=False),
        sa.Column("period_key", _str(length=32), nullable=False),
        sa.Column("format", _str(length=8), nullable=False),
        sa.Column("filename", _str(length=255), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("sha256", _str(length=64), nullable=False),
        sa.Column("figures_json", sa.Text(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("report_snapshot", schema=None) as batch_op:
        batch_op.create_index("ix_report_snapshot_period_key", ["period_key"], unique=False)
    # A frozen copy is what a meeting was shown: it is never changed or removed.
    create_append_only_triggers("report_snapshot")

    with op.batch_alter_table("category", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.add_column(sa.Column("media_url", _str(length=1000), nullable=True))
        batch_op.add_column(sa.Column("extra_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.drop_column("extra_json")
        batch_op.drop_column("media_url")
    with op.batch_alter_table("category", schema=None) as batch_op:
        batch_op.drop_column("active")
    drop_append_only_triggers("report_snapshot")
    with op.batch_alter_table("report_snapshot", schema=None) as batch_op:
        batch_op.drop_index("ix_report_snapshot_period_key")
    op.drop_table("report_snapshot")
    op.drop_table("reference_document")
    op.drop_table("import_batch")
