"""What the API and the dashboard read: a symbol's sentiment, pages of news, the index and its history.

Reads only; :mod:`.service` writes. A symbol's score is the mean of its latest headlines' scores
(``ALPHABOOK_SENTIMENT_HEADLINES`` of them, :func:`alphabook.research.sentiment.summarise`), computed when asked,
so it always reflects the stored stories.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from alphabook.core.config import Settings
from alphabook.core.errors import NotFound
from alphabook.research.sentiment import SentimentSummary, Watchlist, finbert_unavailable, summarise
from alphabook.sentiment.models import FearGreedSnapshot, NewsItem, NewsMention

T = TypeVar("T")

__all__ = ["NewsPage", "SymbolSentiment", "fear_greed_history", "finbert_status", "latest_fear_greed",
           "latest_scores", "news_page", "symbol_sentiment", "tracked_symbol", "tracked_symbols"]


@dataclass(frozen=True, slots=True)
class SymbolSentiment:
    symbol: str
    names: tuple[str, ...]
    summary: SentimentSummary
    headlines: list[NewsItem]  # the latest ones the score averages, newest first


@dataclass(frozen=True, slots=True)
class NewsPage:
    items: list[NewsItem]
    total: int


def finbert_status(settings: Settings) -> str:
    """Whether FinBERT can score headlines here, in words (checked without loading the model)."""
    why = finbert_unavailable(settings.sentiment_finbert_path)
    return f"FinBERT unavailable: {why}" if why else f"FinBERT available at {settings.sentiment_finbert_path}"


def tracked_symbols(settings: Settings) -> Watchlist:
    return Watchlist.of(settings.sentiment_symbols)


def symbol_sentiment(session: Session, settings: Settings, name: str) -> SymbolSentiment:
    """The sentiment of ``name`` (a tracked ticker in any case, or one of its names). NotFound for an untracked
    symbol, naming the tracked ones."""
    watchlist = tracked_symbols(settings)
    symbol = tracked_symbol(settings, name)
    query = _newest(_mentioning(select(NewsItem), symbol)).limit(settings.sentiment_headlines)
    headlines = list(session.scalars(query))
    return SymbolSentiment(symbol, watchlist.names[symbol], summarise([row.score for row in headlines]), headlines)


def latest_scores(session: Session, symbol: str, limit: int) -> list[float]:
    """The scores of ``symbol``'s latest ``limit`` headlines, newest first."""
    return list(session.scalars(_newest(_mentioning(select(NewsItem.score), symbol)).limit(limit)))


def news_page(session: Session, settings: Settings, *, symbol: str | None, limit: int, offset: int) -> NewsPage:
    """Stories newest first, optionally only those naming ``symbol`` (NotFound when it is not tracked)."""
    query = select(NewsItem)
    if symbol is not None:
        query = _mentioning(query, tracked_symbol(settings, symbol))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return NewsPage(list(session.scalars(_newest(query).limit(limit).offset(offset))), total)


def tracked_symbol(settings: Settings, name: str) -> str:
    """The tracked ticker ``name`` stands for; NotFound naming the tracked ones otherwise."""
    watchlist = tracked_symbols(settings)
    symbol = watchlist.resolve(name)
    if symbol is None:
        raise NotFound(f"{name!r} is not a tracked symbol; news is matched to and scored for "
                       f"{', '.join(watchlist.symbols)} "
                       "(ALPHABOOK_SENTIMENT_SYMBOLS adds others)")
    return symbol


def latest_fear_greed(session: Session) -> FearGreedSnapshot:
    """The latest snapshot; NotFound (saying how to make one) before the first refresh."""
    snapshot = session.scalars(select(FearGreedSnapshot).order_by(FearGreedSnapshot.computed_at.desc(),
                                                                  FearGreedSnapshot.id.desc()).limit(1)).first()
    if snapshot is None:
        raise NotFound("No Fear & Greed index has been computed yet: run `alphabook sentiment refresh` or the "
                       "sentiment-refresh platform job.")
    return snapshot


def fear_greed_history(session: Session, limit: int) -> list[FearGreedSnapshot]:
    """The latest ``limit`` snapshots, oldest first (as a chart draws them)."""
    rows = session.scalars(select(FearGreedSnapshot).order_by(FearGreedSnapshot.computed_at.desc(),
                                                              FearGreedSnapshot.id.desc()).limit(limit))
    return list(reversed(list(rows)))


def _mentioning(query: Select[T], symbol: str) -> Select[T]:
    return query.join(NewsMention, NewsMention.item_id == NewsItem.id).where(NewsMention.symbol == symbol)


def _newest(query: Select[T]) -> Select[T]:
    return query.order_by(NewsItem.published_at.desc(), NewsItem.id.desc())
