"""News sentiment and market mood for research: feeds in, scores per symbol and a Fear & Greed index out.

- :mod:`.feeds`: RSS/Atom parsing with feedparser and de-duplication across feeds (GUID, link, title).
- :mod:`.symbols`: which tickers a headline names (:class:`Watchlist`, tickers and names as whole words).
- :mod:`.scorers`: the ``Scorer`` contract with VADER (offline, always there) and FinBERT (``transformers``, only
  from a local model folder).
- :mod:`.summary`: a symbol's mean score and counts.
- :mod:`.fear_greed`: the 0–100 index from volatility, momentum, volume and sentiment, weights documented there.

A pure library like the rest of :mod:`alphabook.research`: no database, no web; ``alphabook.sentiment`` stores
and serves what it computes. ``SAMPLE_FEED`` is a small RSS file shipped with alphabook so that everything works
offline before any real feed is configured::

    from alphabook.research.sentiment import SAMPLE_FEED, VaderScorer, Watchlist, parse_feed
    items = parse_feed(SAMPLE_FEED.read_bytes(), address=str(SAMPLE_FEED)).items
    scores = VaderScorer().score([item.text for item in items])
"""

from __future__ import annotations

from pathlib import Path

from alphabook.research.sentiment.fear_greed import LABELS, METHOD, WEIGHTS, Component, FearGreed, fear_greed, label_for
from alphabook.research.sentiment.feeds import FeedItem, ParsedFeed, dedupe, normalise_title, parse_feed
from alphabook.research.sentiment.scorers import (
    FinbertScorer,
    Score,
    Scorer,
    ScorerChoice,
    VaderScorer,
    choose_scorer,
    finbert_unavailable,
    label_of,
)
from alphabook.research.sentiment.summary import SentimentSummary, summarise
from alphabook.research.sentiment.symbols import Watchlist

SAMPLE_FEED = Path(__file__).with_name("sample_feed.xml")

__all__ = [
    "LABELS",
    "METHOD",
    "SAMPLE_FEED",
    "WEIGHTS",
    "Component",
    "FearGreed",
    "FeedItem",
    "FinbertScorer",
    "ParsedFeed",
    "Score",
    "Scorer",
    "ScorerChoice",
    "SentimentSummary",
    "VaderScorer",
    "Watchlist",
    "choose_scorer",
    "dedupe",
    "fear_greed",
    "finbert_unavailable",
    "label_for",
    "label_of",
    "normalise_title",
    "parse_feed",
    "summarise",
]
