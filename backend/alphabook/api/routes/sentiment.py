"""News, sentiment per symbol and the crypto Fear & Greed index (issue #11): public, read-only.

What the sentiment-refresh job (or ``alphabook sentiment refresh``) stored, shaped for clients; an unknown
symbol is a 404 problem naming the tracked ones.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from alphabook.api.deps import SessionDep, SettingsDep
from alphabook.sentiment import queries
from alphabook.sentiment.schemas import FearGreedOut, NewsPageOut, SentimentOut

router = APIRouter(tags=["sentiment"])


@router.get("/sentiment/{symbol}", response_model=SentimentOut)
def sentiment(symbol: str, session: SessionDep, settings: SettingsDep) -> SentimentOut:
    """A symbol's score (mean of its latest headlines), counts by label, the headlines with their scores, and
    which scorer was used (FinBERT when a local model is configured, VADER otherwise, with the reason)."""
    return SentimentOut.of(queries.symbol_sentiment(session, settings, symbol), queries.finbert_status(settings))


@router.get("/news", response_model=NewsPageOut)
def news(session: SessionDep, settings: SettingsDep,
         symbol: Annotated[str | None, Query(max_length=40, description="Only news naming this symbol.")] = None,
         limit: Annotated[int, Query(ge=1, le=200)] = 20, offset: Annotated[int, Query(ge=0)] = 0) -> NewsPageOut:
    """Stored news, newest first, de-duplicated across feeds, each with its score and the symbols it names."""
    page = queries.news_page(session, settings, symbol=symbol, limit=limit, offset=offset)
    return NewsPageOut.of(page, limit=limit, offset=offset,
                          symbol=queries.tracked_symbol(settings, symbol) if symbol else None)


@router.get("/indicators/fear-greed", response_model=FearGreedOut)
def fear_greed(session: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 90) -> FearGreedOut:
    """The latest crypto Fear & Greed index: value, label, components with their weights, the method, and the
    last ``limit`` snapshots as history."""
    return FearGreedOut.of(queries.latest_fear_greed(session), queries.fear_greed_history(session, limit))
