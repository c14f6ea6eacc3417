"""marketplace and payments: listings, versions, entitlements, ratings, flags, purchases, provider events,
an append-only ledger, payout accounts and payouts; full-text search (FTS5 on SQLite, tsvector on PostgreSQL)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE listings_fts USING fts5(title, description, tags, content='listings', "
    "content_rowid='id', tokenize='porter unicode61')",
    "CREATE TRIGGER listings_fts_insert AFTER INSERT ON listings BEGIN "
    "INSERT INTO listings_fts(rowid, title, description, tags) VALUES (new.id, new.title, new.description, new.tags); "
    "END",
    "CREATE TRIGGER listings_fts_delete AFTER DELETE ON listings BEGIN "
    "INSERT INTO listings_fts(listings_fts, rowid, title, description, tags) "
    "VALUES ('delete', old.id, old.title, old.description, old.tags); END",
    "CREATE TRIGGER listings_fts_update AFTER UPDATE OF title, description, tags ON listings BEGIN "
    "INSERT INTO listings_fts(listings_fts, rowid, title, description, tags) "
    "VALUES ('delete', old.id, old.title, old.description, old.tags); "
    "INSERT INTO listings_fts(rowid, title, description, tags) VALUES (new.id, new.title, new.description, new.tags); "
    "END",
]
POSTGRESQL_SEARCH = [
    "ALTER TABLE listings ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(tags::text, '')), 'A') || "
    "setweight(to_tsvector('english', coalesce(description, '')), 'B')) STORED",
    "CREATE INDEX ix_listings_search_vector ON listings USING gin (search_vector)",
]
SQLITE_APPEND_ONLY = [
    "CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries "
    "BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END",
    "CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries "
    "BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END",
]
POSTGRESQL_APPEND_ONLY = [
    "CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'ledger_entries is append-only'; END $$",
    "CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries "
    "FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only()",
]


def _fk(column: str, table: str, target: str, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"),
                                   ondelete=ondelete)


def upgrade() -> None:
    op.create_table(
        "listings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=130), nullable=False),
        sa.Column("creator_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("licence", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("official", sa.Boolean(), nullable=False),
        sa.Column("installs", sa.Integer(), nullable=False),
        sa.Column("purchases", sa.Integer(), nullable=False),
        sa.Column("rating_count", sa.Integer(), nullable=False),
        sa.Column("rating_sum", sa.Integer(), nullable=False),
        sa.Column("rating_avg", sa.Float(), nullable=False),
        sa.Column("flags_open", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        _fk("creator_id", "listings", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listings")),
        sa.UniqueConstraint("slug", name=op.f("uq_listings_slug")),
    )
    for name, columns in (("ix_listings_creator_id", ["creator_id"]), ("ix_listings_category", ["category"]),
                          ("ix_listings_status", ["status"]), ("ix_listings_created_at", ["created_at"]),
                          ("ix_listings_browse_popular", ["status", "purchases", "id"]),
                          ("ix_listings_browse_rating", ["status", "rating_avg", "id"]),
                          ("ix_listings_browse_price", ["status", "price_minor", "id"])):
        op.create_index(name, "listings", columns)

    op.create_table(
        "listing_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("listing_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("major", sa.Integer(), nullable=False),
        sa.Column("minor", sa.Integer(), nullable=False),
        sa.Column("patch", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("parameter_schema", sa.JSON(), nullable=False),
        sa.Column("changelog", sa.Text(), nullable=False),
        sa.Column("breaking", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.Column("preview", sa.JSON(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("review_reason", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        _fk("listing_id", "listing_versions", "listings", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listing_versions")),
        sa.UniqueConstraint("listing_id", "version", name="uq_listing_versions_listing_id_version"),
    )
    op.create_index("ix_listing_versions_listing_id", "listing_versions", ["listing_id"])

    op.create_table(
        "purchases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=True),
        sa.Column("listing_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("creator_id", sa.Integer(), nullable=True),
        sa.Column("product", sa.String(length=32), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("creator_share_minor", sa.BigInteger(), nullable=False),
        sa.Column("platform_share_minor", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("checkout_ref", sa.String(length=255), nullable=True),
        sa.Column("payment_ref", sa.String(length=255), nullable=True),
        sa.Column("checkout_url", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("open_key", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("completed_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("refunded_at", UTC_TIMESTAMP, nullable=True),
        _fk("buyer_id", "purchases", "users"),
        _fk("listing_id", "purchases", "listings"),
        _fk("version_id", "purchases", "listing_versions"),
        _fk("creator_id", "purchases", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchases")),
        sa.UniqueConstraint("checkout_ref", name=op.f("uq_purchases_checkout_ref")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_purchases_idempotency_key")),
        sa.UniqueConstraint("open_key", name=op.f("uq_purchases_open_key")),
    )
    for column in ("buyer_id", "listing_id", "creator_id", "payment_ref", "status"):
        op.create_index(f"ix_purchases_{column}", "purchases", [column])

    op.create_table(
        "entitlements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("listing_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("purchase_id", sa.Integer(), nullable=True),
        sa.Column("granted_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("revoked_at", UTC_TIMESTAMP, nullable=True),
        _fk("user_id", "entitlements", "users"),
        _fk("listing_id", "entitlements", "listings", "CASCADE"),
        _fk("version_id", "entitlements", "listing_versions"),
        _fk("purchase_id", "entitlements", "purchases"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entitlements")),
        sa.UniqueConstraint("user_id", "listing_id", name="uq_entitlements_user_id_listing_id"),
    )
    op.create_index("ix_entitlements_user_id", "entitlements", ["user_id"])
    op.create_index("ix_entitlements_listing_id", "entitlements", ["listing_id"])

    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("listing_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        _fk("listing_id", "ratings", "listings", "CASCADE"),
        _fk("user_id", "ratings", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ratings")),
        sa.UniqueConstraint("listing_id", "user_id", name="uq_ratings_listing_id_user_id"),
    )
    op.create_index("ix_ratings_listing_id", "ratings", ["listing_id"])
    op.create_index("ix_ratings_user_id", "ratings", ["user_id"])

    op.create_table(
        "flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("listing_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("resolved_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        _fk("listing_id", "flags", "listings", "CASCADE"),
        _fk("user_id", "flags", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flags")),
    )
    op.create_index("ix_flags_listing_id", "flags", ["listing_id"])
    op.create_index("ix_flags_user_id", "flags", ["user_id"])

    op.create_table(
        "payment_events",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=80), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("purchase_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("processed_at", UTC_TIMESTAMP, nullable=True),
        _fk("purchase_id", "payment_events", "purchases"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
        sa.UniqueConstraint("provider", "event_id", name="uq_payment_events_provider_event_id"),
    )
    op.create_index("ix_payment_events_purchase_id", "payment_events", ["purchase_id"])

    op.create_table(
        "payout_accounts",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("account_ref", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        _fk("user_id", "payout_accounts", "users"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_payout_accounts")),
    )
    op.create_table(
        "payouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("creator_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("account_ref", sa.String(length=255), nullable=False),
        sa.Column("provider_ref", sa.String(length=255), nullable=True),
        sa.Column("idempotency_key", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("requested_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("settled_at", UTC_TIMESTAMP, nullable=True),
        _fk("creator_id", "payouts", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payouts")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_payouts_idempotency_key")),
    )
    op.create_index("ix_payouts_creator_id", "payouts", ["creator_id"])
    op.create_index("ix_payouts_status", "payouts", ["status"])

    op.create_table(
        "ledger_entries",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("txn", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("purchase_id", sa.Integer(), nullable=True),
        sa.Column("payout_id", sa.Integer(), nullable=True),
        sa.Column("at", UTC_TIMESTAMP, nullable=False),
        _fk("purchase_id", "ledger_entries", "purchases"),
        _fk("payout_id", "ledger_entries", "payouts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    for column in ("txn", "account", "purchase_id", "payout_id"):
        op.create_index(f"ix_ledger_entries_{column}", "ledger_entries", [column])

    dialect = op.get_bind().dialect.name
    for statement in (SQLITE_SEARCH + SQLITE_APPEND_ONLY if dialect == "sqlite"
                      else POSTGRESQL_SEARCH + POSTGRESQL_APPEND_ONLY):
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("listings_fts_insert", "listings_fts_delete", "listings_fts_update"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE listings_fts")
    for table in ("ledger_entries", "payouts", "payout_accounts", "payment_events", "flags", "ratings",
                  "entitlements", "purchases", "listing_versions", "listings"):
        op.drop_table(table)
    if dialect == "postgresql":
        op.execute("DROP FUNCTION ledger_entries_append_only()")
