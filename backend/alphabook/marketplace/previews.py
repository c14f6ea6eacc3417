"""The public preview of a listing: its active version run in the sandbox on bundled market data.

Anyone, signed in or not, may try an approved indicator or strategy before buying it: the active version runs
in :mod:`alphabook.sandbox` (never in this process: protected code is a stranger's code) on the last bars of a
dataset bundled with alphabook (offline, the same for everyone), with parameters checked against the version's
schema. Only the bars and the outputs come back, never the source. A version's code never changes, so a result
is cached in-process by (version, dataset, parameters): the listing page and the Explore cards ask again and
again, and the sandbox should not run again for the same answer.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from cachetools import LRUCache

from alphabook.core.errors import Conflict, InvalidInput, NotFound
from alphabook.marketplace.models import Listing, ListingKind, ListingStatus, ListingVersion
from alphabook.marketplace.params import resolve
from alphabook.research.backtest.report import Report
from alphabook.sandbox.base import Executor

__all__ = ["DEFAULT_DATASET", "PREVIEW_BARS", "Dataset", "Preview", "bundled_datasets", "clear_cache", "load_bars",
           "preview", "preview_backtest", "previewable_version", "stored_sparkline"]

PREVIEW_BARS = 300
CACHE_SIZE = 256


@dataclass(frozen=True, slots=True)
class Dataset:
    """A bundled series, named the way :func:`alphabook.research.data.load` takes it."""

    symbol: str
    timeframe: str

    @property
    def label(self) -> str:
        return f"{self.symbol} · {self.timeframe}"


def bundled_datasets() -> list[Dataset]:
    """What can be previewed on: every series of the offline bundled source (GOOG daily, EUR/USD hourly,
    BTC/USD monthly)."""
    from alphabook.research.data.bundled import DATASETS

    return [Dataset(str(each.symbol), str(each.timeframe)) for each in DATASETS]


DEFAULT_DATASET = Dataset("NASDAQ:GOOG", "1d")  # the data the automated checks ran on


def load_bars(dataset: Dataset) -> pd.DataFrame:
    """Every bar of a bundled ``dataset`` (read once per process); InvalidInput naming the bundled ones if it is
    not one of them, so nothing ever goes online for a preview."""
    from alphabook.research.data import load

    if dataset not in bundled_datasets():
        raise InvalidInput(f"There is no bundled {dataset.label}; previews run on "
                           f"{', '.join(each.label for each in bundled_datasets())}.")
    return load(dataset.symbol, dataset.timeframe)


@dataclass(frozen=True, slots=True)
class Preview:
    """What a preview shows: the bars, the indicator's outputs on the same index, and what produced them."""

    version: str
    dataset: Dataset
    params: Mapping[str, Any]
    bars: pd.DataFrame
    output: pd.DataFrame


_Key = tuple[int, Dataset, tuple[tuple[str, Any], ...]]
_cache: LRUCache[_Key, Preview] = LRUCache(maxsize=CACHE_SIZE)
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every cached preview (tests, or after an operator changed the sandbox)."""
    with _lock:
        _cache.clear()


def previewable_version(listing: Listing) -> ListingVersion:
    """The version a preview runs: the active one of an approved indicator or strategy."""
    version = listing.active_version
    if listing.status != ListingStatus.APPROVED or version is None:
        raise NotFound(f"Listing {listing.slug} is not available.")
    if listing.kind == ListingKind.NOTEBOOK:
        raise Conflict(f"{listing.slug} is a notebook: it has no chart to preview.")
    return version


def preview(listing: Listing, dataset: Dataset = DEFAULT_DATASET, params: Mapping[str, Any] | None = None, *,
            executor: Executor | None = None) -> Preview:
    """``listing``'s active version on the last :data:`PREVIEW_BARS` bars of ``dataset`` with ``params`` (over
    the schema's defaults). InvalidInput for a dataset that is not bundled or parameters the schema refuses;
    the sandbox's own errors (the code failed, the sandbox is busy) pass through with their words."""
    from alphabook.sandbox.service import run_indicator

    version = previewable_version(listing)
    bars = load_bars(dataset).iloc[-PREVIEW_BARS:]
    resolved = resolve(version.parameter_schema, params or {})
    key: _Key = (version.id, dataset, tuple(sorted(resolved.items())))
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    output = run_indicator(version.code, bars, resolved, executor=executor)
    result = Preview(version=version.version, dataset=dataset, params=resolved, bars=bars, output=output)
    with _lock:
        _cache[key] = result
    return result


def preview_backtest(result: Preview) -> Report | None:
    """A strategy's entries and exits of ``result`` backtested on the same bars (equity and drawdown to draw); None
    for an indicator. The same backtester as the automated checks, so the figures agree with the stored report
    when the bars and parameters do."""
    from alphabook.research.backtest.signals import Signals
    from alphabook.research.backtest.single import backtest

    if not {"entries", "exits"} <= set(map(str, result.output.columns)):
        return None
    signals = Signals(entries=result.output["entries"].fillna(0) > 0.5, exits=result.output["exits"].fillna(0) > 0.5)
    return backtest(result.bars, signals)


def stored_sparkline(listing: Listing) -> pd.Series | None:
    """The first output of the preview the automated checks stored with the active version (run in the sandbox
    on the default dataset when the version was submitted), for a card: no sandbox call, so a page of cards
    stays fast. ``None`` when there is nothing to draw."""
    version = listing.active_version
    stored = version.preview if version is not None else None
    if not stored or not stored.get("outputs"):
        return None
    name, values = next(iter(stored["outputs"].items()))
    series = pd.Series(values, index=pd.to_datetime(stored["time"], utc=True), name=name, dtype="float64")
    series = series.dropna()
    return series if len(series) > 1 else None
