"""trading core: accounts (demo, paper, live), broker credentials, hooks, alerts, orders, fills, the outbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
#: alphabook.core.db.ExactDecimal: exact digits as text on SQLite, NUMERIC on PostgreSQL
EXACT = sa.Numeric(38, 18).with_variant(sa.String(48), "sqlite")


def upgrade() -> None:
    op.create_table(
        "trading_accounts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("broker", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("starting_cash_minor", sa.BigInteger(), nullable=False),
        sa.Column("demo_token_hash", sa.String(length=64), nullable=True),
        sa.Column("demo_email", sa.String(length=254), nullable=True),
        sa.Column("expires_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("kill_switch", sa.Boolean(), nullable=False),
        sa.Column("kill_reason", sa.Text(), nullable=True),
        sa.Column("limits", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_trading_accounts_owner_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trading_accounts")),
        sa.UniqueConstraint("demo_token_hash", name=op.f("uq_trading_accounts_demo_token_hash")),
    )
    with op.batch_alter_table("trading_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_trading_accounts_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_trading_accounts_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "broker_credentials",
        sa.Column("account_id", BIG_ID, nullable=False),
        sa.Column("venue", sa.String(length=40), nullable=False),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("rotated_at", UTC_TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["trading_accounts.id"],
            name=op.f("fk_broker_credentials_account_id_trading_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_broker_credentials")),
    )
    op.create_table(
        "hooks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("format", sa.String(length=12), nullable=False),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("secret_ciphertext", sa.Text(), nullable=False),
        sa.Column("previous_secret_ciphertext", sa.Text(), nullable=True),
        sa.Column("previous_secret_until", UTC_TIMESTAMP, nullable=True),
        sa.Column("allowed_ips", sa.JSON(), nullable=False),
        sa.Column("limits", sa.JSON(), nullable=False),
        sa.Column("kill_switch", sa.Boolean(), nullable=False),
        sa.Column("kill_reason", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["trading_accounts.id"],
            name=op.f("fk_hooks_account_id_trading_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hooks")),
    )
    with op.batch_alter_table("hooks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hooks_account_id"), ["account_id"], unique=False)

    op.create_table(
        "orders",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("account_id", BIG_ID, nullable=False),
        sa.Column("client_order_id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("hook_id", sa.String(length=32), nullable=True),
        sa.Column("copied_from_id", BIG_ID, nullable=True),
        sa.Column("symbol", sa.String(length=40), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("type", sa.String(length=12), nullable=False),
        sa.Column("time_in_force", sa.String(length=4), nullable=False),
        sa.Column("quantity", EXACT, nullable=False),
        sa.Column("limit_price", EXACT, nullable=True),
        sa.Column("stop_price", EXACT, nullable=True),
        sa.Column("state", sa.String(length=18), nullable=False),
        sa.Column("broker_order_id", sa.String(length=64), nullable=True),
        sa.Column("filled_quantity", EXACT, nullable=False),
        sa.Column("average_price", EXACT, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["trading_accounts.id"],
            name=op.f("fk_orders_account_id_trading_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["copied_from_id"], ["orders.id"], name=op.f("fk_orders_copied_from_id_orders"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["hook_id"], ["hooks.id"], name=op.f("fk_orders_hook_id_hooks"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("account_id", "client_order_id", name="uq_orders_account_id_client_order_id"),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_account_id_created_at", ["account_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_copied_from_id"), ["copied_from_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_state"), ["state"], unique=False)

    op.create_table(
        "alerts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("hook_id", sa.String(length=32), nullable=False),
        sa.Column("dedupe_key", sa.String(length=128), nullable=True),
        sa.Column("received_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("source_ip", sa.String(length=45), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("decision", sa.String(length=12), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("order_id", BIG_ID, nullable=True),
        sa.ForeignKeyConstraint(["hook_id"], ["hooks.id"], name=op.f("fk_alerts_hook_id_hooks"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_alerts_order_id_orders"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("hook_id", "dedupe_key", name="uq_alerts_hook_id_dedupe_key"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_hook_id_received_at", ["hook_id", "received_at"], unique=False)

    op.create_table(
        "order_fills",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("order_id", BIG_ID, nullable=False),
        sa.Column("fill_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", EXACT, nullable=False),
        sa.Column("price", EXACT, nullable=False),
        sa.Column("fee", EXACT, nullable=False),
        sa.Column("fee_currency", sa.String(length=12), nullable=False),
        sa.Column("at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_fills_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_fills")),
        sa.UniqueConstraint("order_id", "fill_id", name="uq_order_fills_order_id_fill_id"),
    )
    with op.batch_alter_table("order_fills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_fills_order_id"), ["order_id"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("order_id", BIG_ID, nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("claimed_until", UTC_TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_outbox_order_id_orders"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_order_id"), ["order_id"], unique=False)
        batch_op.create_index("ix_outbox_status_next_attempt_at", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_status_next_attempt_at")
        batch_op.drop_index(batch_op.f("ix_outbox_order_id"))

    op.drop_table("outbox")
    with op.batch_alter_table("order_fills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_fills_order_id"))

    op.drop_table("order_fills")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_hook_id_received_at")

    op.drop_table("alerts")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_state"))
        batch_op.drop_index(batch_op.f("ix_orders_copied_from_id"))
        batch_op.drop_index("ix_orders_account_id_created_at")

    op.drop_table("orders")
    with op.batch_alter_table("hooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hooks_account_id"))

    op.drop_table("hooks")
    op.drop_table("broker_credentials")
    with op.batch_alter_table("trading_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trading_accounts_owner_id"))
        batch_op.drop_index(batch_op.f("ix_trading_accounts_expires_at"))

    op.drop_table("trading_accounts")
