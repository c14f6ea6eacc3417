"""paper broker: the simulated venue's own book, and equity snapshots of every account

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
#: alphabook.core.db.ExactDecimal: exact digits as text on SQLite, NUMERIC on PostgreSQL
EXACT = sa.Numeric(38, 18).with_variant(sa.String(48), "sqlite")


def upgrade() -> None:
    op.create_table(
        "paper_accounts",
        sa.Column("account_id", BIG_ID, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("cash", EXACT, nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["trading_accounts.id"],
            name=op.f("fk_paper_accounts_account_id_trading_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_paper_accounts")),
    )
    op.create_table(
        "paper_positions",
        sa.Column("account_id", BIG_ID, nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("quantity", EXACT, nullable=False),
        sa.Column("average_price", EXACT, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["paper_accounts.account_id"],
            name=op.f("fk_paper_positions_account_id_paper_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "symbol", name=op.f("pk_paper_positions")),
    )
    op.create_table(
        "paper_orders",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account_id", BIG_ID, nullable=False),
        sa.Column("client_order_id", sa.String(length=36), nullable=False),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("type", sa.String(length=12), nullable=False),
        sa.Column("time_in_force", sa.String(length=4), nullable=False),
        sa.Column("quantity", EXACT, nullable=False),
        sa.Column("limit_price", EXACT, nullable=True),
        sa.Column("stop_price", EXACT, nullable=True),
        sa.Column("status", sa.String(length=18), nullable=False),
        sa.Column("filled_quantity", EXACT, nullable=False),
        sa.Column("average_price", EXACT, nullable=True),
        sa.Column("fees", EXACT, nullable=False),
        sa.Column("reserved_cash", EXACT, nullable=False),
        sa.Column("reserved_quantity", EXACT, nullable=False),
        sa.Column("triggered_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("evaluated_from", UTC_TIMESTAMP, nullable=False),
        sa.Column("expires_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("replaces_id", BIG_ID, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["paper_accounts.account_id"],
            name=op.f("fk_paper_orders_account_id_paper_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"], ["paper_orders.id"], name=op.f("fk_paper_orders_replaces_id_paper_orders"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_orders")),
        sa.UniqueConstraint("account_id", "client_order_id", name="uq_paper_orders_account_id_client_order_id"),
    )
    with op.batch_alter_table("paper_orders", schema=None) as batch_op:
        batch_op.create_index("ix_paper_orders_account_id_status", ["account_id", "status"], unique=False)

    op.create_table(
        "paper_fills",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("order_id", BIG_ID, nullable=False),
        sa.Column("fill_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", EXACT, nullable=False),
        sa.Column("price", EXACT, nullable=False),
        sa.Column("fee", EXACT, nullable=False),
        sa.Column("fee_currency", sa.String(length=12), nullable=False),
        sa.Column("liquidity", sa.String(length=5), nullable=False),
        sa.Column("at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["paper_orders.id"], name=op.f("fk_paper_fills_order_id_paper_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_fills")),
        sa.UniqueConstraint("order_id", "fill_id", name="uq_paper_fills_order_id_fill_id"),
    )
    with op.batch_alter_table("paper_fills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_paper_fills_order_id"), ["order_id"], unique=False)

    op.create_table(
        "equity_snapshots",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account_id", BIG_ID, nullable=False),
        sa.Column("at", UTC_TIMESTAMP, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("cash_minor", sa.BigInteger(), nullable=False),
        sa.Column("market_value_minor", sa.BigInteger(), nullable=False),
        sa.Column("equity_minor", sa.BigInteger(), nullable=False),
        sa.Column("realized_pnl_minor", sa.BigInteger(), nullable=False),
        sa.Column("unrealized_pnl_minor", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["trading_accounts.id"],
            name=op.f("fk_equity_snapshots_account_id_trading_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equity_snapshots")),
        sa.UniqueConstraint("account_id", "at", name="uq_equity_snapshots_account_id_at"),
    )


def downgrade() -> None:
    op.drop_table("equity_snapshots")
    with op.batch_alter_table("paper_fills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_paper_fills_order_id"))

    op.drop_table("paper_fills")
    with op.batch_alter_table("paper_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_paper_orders_account_id_status")

    op.drop_table("paper_orders")
    op.drop_table("paper_positions")
    op.drop_table("paper_accounts")
