"""scheduled notebook jobs and their runs

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("notebook_path", sa.String(length=500), nullable=False),
        sa.Column("listing_version_id", sa.Integer(), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("kernel", sa.String(length=40), nullable=False),
        sa.Column("cron", sa.String(length=120), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("run_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("max_retries", sa.Integer(), nullable=False),
        sa.Column("retry_backoff_seconds", sa.Integer(), nullable=False),
        sa.Column("notify", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_jobs_owner_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["listing_version_id"], ["listing_versions.id"],
                                name=op.f("fk_jobs_listing_version_id_listing_versions"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("owner_id", "name", name="uq_jobs_owner_id_name"),
    )
    op.create_index(op.f("ix_jobs_owner_id"), "jobs", ["owner_id"])
    op.create_index("ix_jobs_due", "jobs", ["enabled", "next_run_at"])
    op.create_table(
        "job_runs",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("job_id", BIG_ID, nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("scheduled_for", UTC_TIMESTAMP, nullable=False),
        sa.Column("trigger", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("not_before", UTC_TIMESTAMP, nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("lease_owner", sa.String(length=120), nullable=True),
        sa.Column("lease_expires_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("started_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("finished_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("output_path", sa.String(length=500), nullable=True),
        sa.Column("failed_cell", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("log", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_job_runs_job_id_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
        sa.UniqueConstraint("job_id", "scheduled_for", name="uq_job_runs_job_id_scheduled_for"),
    )
    op.create_index(op.f("ix_job_runs_job_id"), "job_runs", ["job_id"])
    op.create_index(op.f("ix_job_runs_owner_id"), "job_runs", ["owner_id"])
    op.create_index("ix_job_runs_claimable", "job_runs", ["status", "not_before"])


def downgrade() -> None:
    op.drop_table("job_runs")
    op.drop_table("jobs")
