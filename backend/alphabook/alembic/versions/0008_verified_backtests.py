"""verified backtests: signed, reproducible re-runs of approved listings

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "verified_backtests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("listing_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("dataset", sa.String(length=120), nullable=False),
        sa.Column("data_sha256", sa.String(length=64), nullable=False),
        sa.Column("code_sha256", sa.String(length=64), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("environment", sa.JSON(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["listing_id"], ["listings.id"], name=op.f("fk_verified_backtests_listing_id_listings"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["version_id"], ["listing_versions.id"],
                                name=op.f("fk_verified_backtests_version_id_listing_versions"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verified_backtests")),
    )
    op.create_index(op.f("ix_verified_backtests_listing_id"), "verified_backtests", ["listing_id"])


def downgrade() -> None:
    op.drop_table("verified_backtests")
