"""news and sentiment: feed items, scores per symbol, fear and greed

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "news_feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("etag", sa.String(length=500), nullable=True),
        sa.Column("last_modified", sa.String(length=100), nullable=True),
        sa.Column("fetched_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("status", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_news_feeds")),
        sa.UniqueConstraint("url", name=op.f("uq_news_feeds_url")),
    )
    op.create_table(
        "news_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guid", sa.String(length=1000), nullable=False),
        sa.Column("link", sa.String(length=2000), nullable=False),
        sa.Column("title", sa.String(length=1000), nullable=False),
        sa.Column("title_key", sa.String(length=1000), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=True),
        sa.Column("published_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("changed_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("fetched_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("label", sa.String(length=10), nullable=False),
        sa.Column("scorer", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["feed_id"], ["news_feeds.id"], name=op.f("fk_news_items_feed_id_news_feeds"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_news_items")),
        sa.UniqueConstraint("guid", name=op.f("uq_news_items_guid")),
    )
    op.create_index(op.f("ix_news_items_link"), "news_items", ["link"])
    op.create_index(op.f("ix_news_items_title_key"), "news_items", ["title_key"])
    op.create_index("ix_news_items_published_at_id", "news_items", ["published_at", "id"])
    op.create_table(
        "news_mentions",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("symbol", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["news_items.id"], name=op.f("fk_news_mentions_item_id_news_items"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id", "symbol", name=op.f("pk_news_mentions")),
    )
    op.create_index(op.f("ix_news_mentions_symbol"), "news_mentions", ["symbol"])
    op.create_table(
        "fear_greed_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("computed_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("as_of", UTC_TIMESTAMP, nullable=False),
        sa.Column("market", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=20), nullable=False),
        sa.Column("components", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fear_greed_snapshots")),
    )
    op.create_index(op.f("ix_fear_greed_snapshots_computed_at"), "fear_greed_snapshots", ["computed_at"])


def downgrade() -> None:
    op.drop_table("fear_greed_snapshots")
    op.drop_table("news_mentions")
    op.drop_table("news_items")
    op.drop_table("news_feeds")
