"""API shapes of news, sentiment and the Fear & Greed index (pydantic at the edge)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from alphabook.research.sentiment import LABELS, METHOD, WEIGHTS
from alphabook.sentiment.models import FearGreedSnapshot, NewsItem
from alphabook.sentiment.queries import NewsPage, SymbolSentiment

__all__ = ["FearGreedOut", "HeadlineOut", "NewsPageOut", "SentimentOut"]


class HeadlineOut(BaseModel):
    id: int
    title: str
    link: str
    source: str
    published_at: datetime
    score: float = Field(description="Compound sentiment, -1 (most negative) to 1 (most positive).")
    label: str = Field(description="positive (score >= 0.05), negative (<= -0.05) or neutral.")
    scorer: str = Field(description="vader or finbert.")
    symbols: list[str]

    @classmethod
    def of(cls, row: NewsItem) -> HeadlineOut:
        return cls(id=row.id, title=row.title, link=row.link, source=row.source, published_at=row.published_at,
                   score=row.score, label=row.label, scorer=row.scorer, symbols=row.symbols)


class SentimentCounts(BaseModel):
    positive: int
    negative: int
    neutral: int
    total: int


class SentimentOut(BaseModel):
    symbol: str
    names: list[str]
    score: float | None = Field(description="Mean compound score of the latest headlines; null without news.")
    label: str
    counts: SentimentCounts
    scorers: list[str] = Field(description="The scorers that scored these headlines.")
    finbert: str = Field(description="Whether FinBERT is available here, and why not.")
    headlines: list[HeadlineOut]

    @classmethod
    def of(cls, found: SymbolSentiment, finbert: str) -> SentimentOut:
        summary = found.summary
        return cls(symbol=found.symbol, names=list(found.names), score=summary.score, label=summary.label,
                   counts=SentimentCounts(positive=summary.positive, negative=summary.negative,
                                          neutral=summary.neutral, total=summary.count),
                   scorers=sorted({row.scorer for row in found.headlines}), finbert=finbert,
                   headlines=[HeadlineOut.of(row) for row in found.headlines])


class NewsPageOut(BaseModel):
    items: list[HeadlineOut]
    total: int
    limit: int
    offset: int
    symbol: str | None

    @classmethod
    def of(cls, page: NewsPage, *, limit: int, offset: int, symbol: str | None) -> NewsPageOut:
        return cls(items=[HeadlineOut.of(row) for row in page.items], total=page.total, limit=limit, offset=offset,
                   symbol=symbol)


class ComponentOut(BaseModel):
    name: str
    score: float = Field(description="0 (fear) … 100 (greed); 50 is neutral.")
    weight: float = Field(description="As applied; the weights of the components present sum to 1.")
    reading: float = Field(description="The raw figure the score comes from (see 'method').")


class FearGreedPointOut(BaseModel):
    computed_at: datetime
    value: int
    label: str


class FearGreedOut(BaseModel):
    value: int = Field(description="0 (extreme fear) … 100 (extreme greed).")
    label: str
    computed_at: datetime
    as_of: datetime = Field(description="Open time of the latest market bar used.")
    market: str
    components: list[ComponentOut]
    weights: dict[str, float] = Field(description="The documented weights before rescaling for missing parts.")
    bands: dict[str, str] = Field(description="The value range of each label.")
    method: str
    history: list[FearGreedPointOut] = Field(description="Earlier snapshots, oldest first, this one last.")

    @classmethod
    def of(cls, latest: FearGreedSnapshot, history: list[FearGreedSnapshot]) -> FearGreedOut:
        lower = 0
        bands = {}
        for upper, label in LABELS:
            bands[label] = f"{lower}–{upper}"
            lower = upper + 1
        return cls(value=latest.value, label=latest.label, computed_at=latest.computed_at, as_of=latest.as_of,
                   market=latest.market, weights=dict(WEIGHTS), bands=bands, method=METHOD,
                   components=[ComponentOut(name=name, **figures) for name, figures in latest.components.items()],
                   history=[FearGreedPointOut(computed_at=row.computed_at, value=row.value, label=row.label)
                            for row in history])
