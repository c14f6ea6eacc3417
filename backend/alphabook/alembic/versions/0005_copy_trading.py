"""copy trading: signal providers, subscriptions, the copy journal, charges, metrics, ratings, verifications, flags

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
#: alphabook.core.db.ExactDecimal: exact digits as text on SQLite, NUMERIC on PostgreSQL
EXACT = sa.Numeric(38, 18).with_variant(sa.String(48), "sqlite")


def upgrade() -> None:
    op.create_table(
        "copy_providers",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("account_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("claimed_return_bp", sa.BigInteger(), nullable=True),
        sa.Column("claimed_drawdown_bp", sa.BigInteger(), nullable=True),
        sa.Column("claimed_win_rate_bp", sa.BigInteger(), nullable=True),
        sa.Column("return_bp", sa.BigInteger(), nullable=True),
        sa.Column("max_drawdown_bp", sa.BigInteger(), nullable=True),
        sa.Column("sharpe_milli", sa.BigInteger(), nullable=True),
        sa.Column("win_rate_bp", sa.BigInteger(), nullable=True),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.Column("metrics_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("verification", sa.String(length=12), nullable=False),
        sa.Column("verified_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["trading_accounts.id"],
                                name=op.f("fk_copy_providers_account_id_trading_accounts")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_copy_providers_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copy_providers")),
        sa.UniqueConstraint("account_id", name=op.f("uq_copy_providers_account_id")),
    )
    with op.batch_alter_table("copy_providers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_copy_providers_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_copy_providers_user_id"), ["user_id"], unique=False)

    op.create_table(
        "copy_subscriptions",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("follower_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", BIG_ID, nullable=False),
        sa.Column("account_id", BIG_ID, nullable=False),
        sa.Column("scaling", sa.String(length=12), nullable=False),
        sa.Column("multiplier", EXACT, nullable=False),
        sa.Column("position_limits", sa.JSON(), nullable=False),
        sa.Column("stop_loss_pct", EXACT, nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("active_key", sa.String(length=48), nullable=True),
        sa.Column("paid_until", UTC_TIMESTAMP, nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("ended_at", UTC_TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["trading_accounts.id"],
                                name=op.f("fk_copy_subscriptions_account_id_trading_accounts")),
        sa.ForeignKeyConstraint(["follower_id"], ["users.id"], name=op.f("fk_copy_subscriptions_follower_id_users")),
        sa.ForeignKeyConstraint(["provider_id"], ["copy_providers.id"],
                                name=op.f("fk_copy_subscriptions_provider_id_copy_providers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copy_subscriptions")),
        sa.UniqueConstraint("active_key", name=op.f("uq_copy_subscriptions_active_key")),
    )
    with op.batch_alter_table("copy_subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_copy_subscriptions_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_copy_subscriptions_follower_id"), ["follower_id"], unique=False)
        batch_op.create_index("ix_copy_subscriptions_provider_id_status", ["provider_id", "status"], unique=False)

    op.create_table(
        "copy_trades",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("subscription_id", BIG_ID, nullable=False),
        sa.Column("provider_order_id", BIG_ID, nullable=True),
        sa.Column("order_id", BIG_ID, nullable=True),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("quantity", EXACT, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_copy_trades_order_id_orders"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["provider_order_id"], ["orders.id"],
                                name=op.f("fk_copy_trades_provider_order_id_orders"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["subscription_id"], ["copy_subscriptions.id"],
                                name=op.f("fk_copy_trades_subscription_id_copy_subscriptions"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copy_trades")),
        sa.UniqueConstraint("order_id", name=op.f("uq_copy_trades_order_id")),
    )
    with op.batch_alter_table("copy_trades", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_copy_trades_provider_order_id"), ["provider_order_id"], unique=False)
        batch_op.create_index("ix_copy_trades_subscription_id_symbol", ["subscription_id", "symbol"], unique=False)

    op.create_table(
        "copy_charges",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("subscription_id", BIG_ID, nullable=False),
        sa.Column("provider_id", BIG_ID, nullable=False),
        sa.Column("period_start", UTC_TIMESTAMP, nullable=False),
        sa.Column("period_end", UTC_TIMESTAMP, nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("provider_share_minor", sa.BigInteger(), nullable=False),
        sa.Column("platform_share_minor", sa.BigInteger(), nullable=False),
        sa.Column("payment_provider", sa.String(length=16), nullable=False),
        sa.Column("ledger_txn", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["provider_id"], ["copy_providers.id"],
                                name=op.f("fk_copy_charges_provider_id_copy_providers")),
        sa.ForeignKeyConstraint(["subscription_id"], ["copy_subscriptions.id"],
                                name=op.f("fk_copy_charges_subscription_id_copy_subscriptions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copy_charges")),
        sa.UniqueConstraint("subscription_id", "period_start", name="uq_copy_charges_subscription_id_period_start"),
    )
    with op.batch_alter_table("copy_charges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_copy_charges_provider_id"), ["provider_id"], unique=False)

    op.create_table(
        "copy_provider_metrics",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("provider_id", BIG_ID, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("equity_minor", sa.BigInteger(), nullable=False),
        sa.Column("return_bp", sa.BigInteger(), nullable=False),
        sa.Column("total_return_bp", sa.BigInteger(), nullable=False),
        sa.Column("drawdown_bp", sa.BigInteger(), nullable=False),
        sa.Column("sharpe_milli", sa.BigInteger(), nullable=True),
        sa.Column("win_rate_bp", sa.BigInteger(), nullable=True),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.Column("followers", sa.Integer(), nullable=False),
        sa.Column("computed_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["provider_id"], ["copy_providers.id"],
                                name=op.f("fk_copy_provider_metrics_provider_id_copy_providers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copy_provider_metrics")),
        sa.UniqueConstraint("provider_id", "day", name="uq_copy_provider_metrics_provider_id_day"),
    )
    op.create_table(
        "copy_ratings",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("provider_id", BIG_ID, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("stars", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["provider_id"], ["copy_providers.id"],
                                name=op.f("fk_copy_ratings_provider_id_copy_providers"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_copy_ratings_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copy_ratings")),
        sa.UniqueConstraint("provider_id", "user_id", name="uq_copy_ratings_provider_id_user_id"),
    )
    with op.batch_alter_table("copy_ratings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_copy_ratings_user_id"), ["user_id"], unique=False)

    op.create_table(
        "copy_verifications",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("provider_id", BIG_ID, nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("threshold_bp", sa.BigInteger(), nullable=False),
        sa.Column("discrepancy_bp", sa.BigInteger(), nullable=True),
        sa.Column("claimed", sa.JSON(), nullable=False),
        sa.Column("recorded", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["provider_id"], ["copy_providers.id"],
                                name=op.f("fk_copy_verifications_provider_id_copy_providers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copy_verifications")),
    )
    with op.batch_alter_table("copy_verifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_copy_verifications_provider_id"), ["provider_id"], unique=False)

    op.create_table(
        "copy_flags",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("provider_id", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("open_key", sa.String(length=40), nullable=True),
        sa.Column("raised_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("resolved_at", UTC_TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["provider_id"], ["copy_providers.id"],
                                name=op.f("fk_copy_flags_provider_id_copy_providers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copy_flags")),
        sa.UniqueConstraint("open_key", name=op.f("uq_copy_flags_open_key")),
    )
    with op.batch_alter_table("copy_flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_copy_flags_provider_id"), ["provider_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("copy_flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_copy_flags_provider_id"))
    op.drop_table("copy_flags")
    with op.batch_alter_table("copy_verifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_copy_verifications_provider_id"))
    op.drop_table("copy_verifications")
    with op.batch_alter_table("copy_ratings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_copy_ratings_user_id"))
    op.drop_table("copy_ratings")
    op.drop_table("copy_provider_metrics")
    with op.batch_alter_table("copy_charges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_copy_charges_provider_id"))
    op.drop_table("copy_charges")
    with op.batch_alter_table("copy_trades", schema=None) as batch_op:
        batch_op.drop_index("ix_copy_trades_subscription_id_symbol")
        batch_op.drop_index(batch_op.f("ix_copy_trades_provider_order_id"))
    op.drop_table("copy_trades")
    with op.batch_alter_table("copy_subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_copy_subscriptions_provider_id_status")
        batch_op.drop_index(batch_op.f("ix_copy_subscriptions_follower_id"))
        batch_op.drop_index(batch_op.f("ix_copy_subscriptions_account_id"))
    op.drop_table("copy_subscriptions")
    with op.batch_alter_table("copy_providers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_copy_providers_user_id"))
        batch_op.drop_index(batch_op.f("ix_copy_providers_status"))
    op.drop_table("copy_providers")
