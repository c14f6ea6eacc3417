"""Tables of news and market mood: feeds with their caching validators, one row per story, the symbols each
story names, and a Fear & Greed snapshot per refresh.

A story is stored once: ``guid`` is unique (the feed's id, else its link), and the service also recognises a
story again by its link or normalised title (``title_key``) before inserting, so the same headline from two feeds
or re-published with a correction stays one row, updated in place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alphabook.core.db import Base

__all__ = ["FearGreedSnapshot", "NewsFeed", "NewsItem", "NewsMention"]


class NewsFeed(Base):
    """A feed address the refresh reads, with what the server said last time (for conditional GETs)."""

    __tablename__ = "news_feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    fetched_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(500), default="never fetched")  # "200 OK, 8 items", "not modified"…


class NewsItem(Base):
    __tablename__ = "news_items"
    __table_args__ = (Index("ix_news_items_published_at_id", "published_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    guid: Mapped[str] = mapped_column(String(1000), unique=True)
    link: Mapped[str] = mapped_column(String(2000), index=True)
    title: Mapped[str] = mapped_column(String(1000))
    title_key: Mapped[str] = mapped_column(String(1000), index=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(500))
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("news_feeds.id", ondelete="SET NULL"))
    published_at: Mapped[datetime]  # the feed's time, else when we first saw the story
    changed_at: Mapped[datetime | None]  # the feed's update time of the version stored
    fetched_at: Mapped[datetime]
    score: Mapped[float] = mapped_column(Float)  # compound sentiment in [-1, 1]
    label: Mapped[str] = mapped_column(String(10))
    scorer: Mapped[str] = mapped_column(String(20))

    mentions: Mapped[list[NewsMention]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def symbols(self) -> list[str]:
        return sorted(mention.symbol for mention in self.mentions)


class NewsMention(Base):
    """A symbol a story names (its title or summary), so news is filtered per symbol in SQL."""

    __tablename__ = "news_mentions"

    item_id: Mapped[int] = mapped_column(ForeignKey("news_items.id", ondelete="CASCADE"), primary_key=True)
    symbol: Mapped[str] = mapped_column(String(20), primary_key=True, index=True)


class FearGreedSnapshot(Base):
    """The index as one refresh computed it: value, label, and each component with its weight."""

    __tablename__ = "fear_greed_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(index=True)
    as_of: Mapped[datetime]  # the latest market bar used
    market: Mapped[str] = mapped_column(String(100))  # e.g. INDEX:BTC/USD 1M
    value: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(20))
    components: Mapped[dict[str, Any]]  # name -> {score, weight, reading}
