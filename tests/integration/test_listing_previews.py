"""The public preview of a listing: its active version run in the real sandbox on bundled data, with parameters
checked against its schema and the answer cached by (version, dataset, parameters), on every database backend."""

from __future__ import annotations

from collections.abc import Iterator
from unittest import mock

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from alphabook.accounts import service
from alphabook.core.errors import Conflict, InvalidInput, NotFound
from alphabook.marketplace import previews
from alphabook.marketplace.models import Listing
from alphabook.research.data import load
from alphabook.sandbox.service import close_default_executor, default_executor
from tests.integration.market import CROSS, CROSS_SCHEMA, SMA, SMA_SCHEMA, make_listing


@pytest.fixture
def sma(session: Session) -> Listing:
    creator = service.ensure_user(session, "previewer", roles=["user", "creator"])
    listing = make_listing(session, creator, "sma", 1500)
    listing.versions[0].code, listing.versions[0].parameter_schema = SMA, SMA_SCHEMA
    session.flush()
    return listing


@pytest.fixture
def executor() -> Iterator[mock.Mock]:
    """The real sandbox, with its calls counted; the process-wide pool is stopped again afterwards."""
    previews.clear_cache()
    try:
        yield mock.Mock(wraps=default_executor())
    finally:
        previews.clear_cache()
        close_default_executor()


def test_the_bundled_datasets_are_listed_and_previewable() -> None:
    listed = previews.bundled_datasets()
    assert previews.DEFAULT_DATASET in listed
    assert {(each.symbol, each.timeframe) for each in listed} >= {("NASDAQ:GOOG", "1d"), ("FX:EUR/USD", "1h")}
    for each in listed:
        assert not load(each.symbol, each.timeframe).empty


def test_a_preview_runs_the_active_version_on_the_last_bars(sma: Listing, executor: mock.Mock) -> None:
    result = previews.preview(sma, params={"length": 5}, executor=executor)
    expected_bars = load("NASDAQ:GOOG", "1d").iloc[-previews.PREVIEW_BARS:]
    assert len(result.bars) == previews.PREVIEW_BARS
    assert result.output.index.equals(expected_bars.index)
    expected = expected_bars["close"].rolling(5).mean()
    pd.testing.assert_series_equal(result.output.iloc[:, 0], expected, check_names=False)
    assert result.params == {"length": 5} and result.version == "1.0.0"
    assert executor.run.call_count == 1


def test_another_dataset_is_previewed_on_its_own_bars(sma: Listing, executor: mock.Mock) -> None:
    hourly = previews.Dataset("FX:EUR/USD", "1h")
    result = previews.preview(sma, hourly, executor=executor)
    assert result.dataset == hourly
    assert result.bars.index.equals(load("FX:EUR/USD", "1h").index[-previews.PREVIEW_BARS:])
    assert result.params == {"length": 20}


def test_the_same_question_is_answered_from_the_cache(sma: Listing, executor: mock.Mock) -> None:
    first = previews.preview(sma, params={"length": 7}, executor=executor)
    again = previews.preview(sma, params={"length": 7}, executor=executor)
    defaults = previews.preview(sma, executor=executor)
    spelled_out = previews.preview(sma, params={"length": 20}, executor=executor)
    assert again is first
    assert spelled_out is defaults  # defaults given or implied are the same parameters
    assert executor.run.call_count == 2


@pytest.mark.parametrize(("params", "fragment"), [({"lenght": 5}, "did you mean 'length'"),
                                                   ({"length": 1}, "at least 2"),
                                                   ({"length": "long"}, "must be a number")])
def test_parameters_outside_the_schema_are_refused_before_the_sandbox(sma: Listing, executor: mock.Mock,
                                                                      params: dict[str, object],
                                                                      fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        previews.preview(sma, params=params, executor=executor)
    assert executor.run.call_count == 0


def test_only_bundled_datasets_can_be_previewed(sma: Listing, executor: mock.Mock) -> None:
    with pytest.raises(InvalidInput, match="no bundled BINANCE:BTC/USDT"):
        previews.preview(sma, previews.Dataset("BINANCE:BTC/USDT", "1h"), executor=executor)
    assert executor.run.call_count == 0


def test_only_approved_indicators_and_strategies_have_a_preview(sma: Listing, session: Session,
                                                                 executor: mock.Mock) -> None:
    sma.status = "pending"
    with pytest.raises(NotFound):
        previews.preview(sma, executor=executor)
    sma.status, sma.kind = "approved", "notebook"
    with pytest.raises(Conflict, match="notebook"):
        previews.preview(sma, executor=executor)
    assert executor.run.call_count == 0


def test_a_strategy_preview_is_backtested_and_an_indicator_is_not(sma: Listing, executor: mock.Mock) -> None:
    assert previews.preview_backtest(previews.preview(sma, executor=executor)) is None
    sma.kind = "strategy"
    sma.versions[0].code, sma.versions[0].parameter_schema = CROSS, CROSS_SCHEMA
    result = previews.preview(sma, params={"fast": 5}, executor=executor)
    report = previews.preview_backtest(result)
    assert report is not None
    assert report.equity.index.equals(result.bars.index)
    assert report.num_trades == int((result.output["entries"] > 0.5).sum()) > 0  # flat to flat, each entry trades


def test_a_card_draws_the_preview_stored_by_the_checks(sma: Listing) -> None:
    assert previews.stored_sparkline(sma) is None
    sma.versions[0].preview = {"time": ["2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00",
                                        "2024-01-03T00:00:00+00:00"],
                               "close": [1.0, 2.0, 3.0], "outputs": {"sma": [None, 1.5, 2.5]}}
    line = previews.stored_sparkline(sma)
    assert line is not None and line.tolist() == [1.5, 2.5]
    assert str(line.index.tz) == "UTC"
