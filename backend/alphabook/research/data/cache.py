"""On-disk cache of downloaded bars: one Parquet file per exchange, symbol and timeframe, plus what it covers.

Bars alone cannot say whether a range was downloaded: an empty stretch may be a halt, a time before the
listing, or simply never asked for. So each file also records its *coverage*, a list of half-open
``[start, end)`` ranges of bar open times for which it holds every bar the exchange had; a request
inside the coverage needs no network and a request beyond it downloads only the :func:`missing_spans`.
pandas writes the file through pyarrow and keeps ``DataFrame.attrs`` (the coverage) in its metadata,
and the file is replaced atomically, so bars and coverage can never disagree on disk.

Layout: ``<root>/<exchange id>/<BASE>-<QUOTE>/<timeframe>.parquet``, e.g. ``binance/BTC-USDT/5m.parquet``
(a month is ``1mo``, so that ``1m`` and ``1M`` stay apart on case-insensitive file systems).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from alphabook.research.data.frame import empty_ohlcv
from alphabook.research.data.symbols import Symbol
from alphabook.research.data.timeframes import Timeframe

_COVERAGE = "alphabook_coverage"


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open range ``[start, end)`` of bar open times (aware UTC)."""

    start: pd.Timestamp
    end: pd.Timestamp


@dataclass(frozen=True, slots=True)
class CacheKey:
    exchange_id: str
    symbol: Symbol
    timeframe: Timeframe

    @property
    def relative_path(self) -> Path:
        stem = f"{self.timeframe.amount}mo" if self.timeframe.unit == "M" else str(self.timeframe)
        return Path(self.exchange_id, f"{self.symbol.base}-{self.symbol.quote}", f"{stem}.parquet")


@dataclass(slots=True)
class CachedBars:
    bars: pd.DataFrame
    coverage: list[Span]


def missing_spans(coverage: list[Span], wanted: Span) -> list[Span]:
    """The parts of ``wanted`` that ``coverage`` does not cover, in time order."""
    gaps: list[Span] = []
    cursor = wanted.start
    for span in sorted(coverage, key=lambda span: span.start):
        if span.start >= wanted.end:
            break
        if span.start > cursor:
            gaps.append(Span(cursor, span.start))
        cursor = max(cursor, span.end)
    if cursor < wanted.end:
        gaps.append(Span(cursor, wanted.end))
    return gaps


def merge_spans(spans: list[Span]) -> list[Span]:
    """The same instants as ``spans``, as the fewest sorted, non-touching ranges (empty ranges dropped)."""
    merged: list[Span] = []
    for span in sorted((span for span in spans if span.start < span.end), key=lambda span: span.start):
        if merged and span.start <= merged[-1].end:
            merged[-1] = Span(merged[-1].start, max(merged[-1].end, span.end))
        else:
            merged.append(span)
    return merged


class BarCache:
    """Parquet files under ``root``, one per :class:`CacheKey` (see the module docstring for the layout)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: CacheKey) -> Path:
        return self.root / key.relative_path

    def read(self, key: CacheKey) -> CachedBars:
        """The cached bars and their coverage; nothing covered when the file is missing or unreadable."""
        try:
            bars = pd.read_parquet(self.path(key))
        except (OSError, ValueError):
            return CachedBars(empty_ohlcv(), [])
        coverage = [Span(pd.Timestamp(start), pd.Timestamp(end)) for start, end in bars.attrs.get(_COVERAGE, [])]
        bars.attrs = {}
        return CachedBars(bars, coverage)

    def write(self, key: CacheKey, cached: CachedBars) -> None:
        """Replace the file for ``key`` with ``cached`` (bars and coverage together, atomically)."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        stored = cached.bars.copy()
        stored.attrs = {_COVERAGE: [[span.start.isoformat(), span.end.isoformat()] for span in cached.coverage]}
        draft = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        stored.to_parquet(draft)
        os.replace(draft, path)
