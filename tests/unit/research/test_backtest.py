"""Single backtests: fills, sizing, costs, metrics, report shapes, input checks, and the engine in use."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alphabook.core.errors import InvalidInput
from alphabook.research.backtest import (
    Signals,
    Sizing,
    Targets,
    backtest,
    infer_periods_per_year,
    run,
)
from alphabook.research.strategies import sma_crossover

DAY = pd.Timedelta(days=1)


def frame(close: list[float], open_: list[float] | None = None, freq: str = "1D") -> pd.DataFrame:
    """A small OHLCV frame; open defaults to close, high/low bracket both."""
    close_a = np.asarray(close, dtype=np.float64)
    open_a = close_a if open_ is None else np.asarray(open_, dtype=np.float64)
    index = pd.date_range("2024-01-01", periods=len(close_a), freq=freq, tz="UTC", name="time")
    high, low = np.maximum(open_a, close_a) + 1, np.minimum(open_a, close_a) - 1
    return pd.DataFrame({"open": open_a, "high": high, "low": low, "close": close_a, "volume": 1.0}, index=index)


def flags(df: pd.DataFrame, *bars: int) -> pd.Series:
    mask = np.zeros(len(df), dtype=bool)
    mask[list(bars)] = True
    return pd.Series(mask, index=df.index)


# --- fills -------------------------------------------------------------------------------------------------


def test_next_open_fill_executes_a_signal_at_the_following_bars_open() -> None:
    df = frame([10, 11, 12, 13, 14, 15], open_=[9.5, 10.5, 11.5, 12.5, 13.5, 14.5])
    report = backtest(df, Signals(flags(df, 1), flags(df, 3)), init_cash=1000)
    trade = report.trades.iloc[0]
    assert trade["entry_time"] == df.index[2] and trade["entry_price"] == 11.5
    assert trade["exit_time"] == df.index[4] and trade["exit_price"] == 13.5
    assert trade["size"] == pytest.approx(1000 / 11.5)
    assert report.final_equity == pytest.approx(1000 / 11.5 * 13.5)


def test_close_fill_executes_at_the_signal_bars_close() -> None:
    df = frame([10, 11, 12, 13, 14, 15], open_=[9.5, 10.5, 11.5, 12.5, 13.5, 14.5])
    trade = backtest(df, Signals(flags(df, 1), flags(df, 3)), fill="close").trades.iloc[0]
    assert (trade["entry_time"], trade["entry_price"]) == (df.index[1], 11.0)
    assert (trade["exit_time"], trade["exit_price"]) == (df.index[3], 13.0)


def test_a_signal_on_the_last_bar_never_fills_at_next_open() -> None:
    df = frame([10, 11, 12])
    report = backtest(df, Signals(flags(df, 2), flags(df)))
    assert report.num_trades == 0 and report.final_equity == 10_000


def test_an_entry_and_an_exit_on_the_same_bar_cancel_out() -> None:
    df = frame([10, 11, 12, 13, 14])
    report = backtest(df, Signals(flags(df, 0, 1), flags(df, 1, 3)), sizing=Sizing.units(1))
    assert report.trades[["entry_time", "exit_time"]].to_numpy().tolist() == [[df.index[1], df.index[4]]]


def test_fees_and_slippage_are_rates_on_each_fill() -> None:
    df = frame([100, 100, 110, 110, 110])
    report = backtest(df, Signals(flags(df, 0), flags(df, 2)), fees=0.01, slippage=0.02, sizing=Sizing.units(10))
    trade = report.trades.iloc[0]
    assert trade["entry_price"] == pytest.approx(102.0) and trade["exit_price"] == pytest.approx(107.8)
    assert report.fees_paid == pytest.approx(0.01 * 10 * (102.0 + 107.8))
    assert trade["fees"] == pytest.approx(report.fees_paid)
    assert report.final_equity == pytest.approx(10_000 + 10 * (107.8 - 102.0) - report.fees_paid)


# --- sizing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sizing", "expected_size"),
    [
        (Sizing.all_in(), 10_000 / (50 * 1.001)),
        (Sizing.units(7), 7.0),
        (Sizing.cash(2_500), 2_500 / 50),
        (Sizing.fraction(0.25), 0.25 * 10_000 / (50 * 1.001)),
    ],
)
def test_sizing(sizing: Sizing, expected_size: float) -> None:
    df = frame([50, 50, 60, 60])
    trade = backtest(df, Signals(flags(df, 0), flags(df, 2)), sizing=sizing, fees=0.001).trades.iloc[0]
    assert trade["size"] == pytest.approx(expected_size)


def test_whole_units_rounds_all_in_down_like_backtesting_py() -> None:
    df = frame([30, 30, 40, 40])
    trade = backtest(df, Signals(flags(df, 0), flags(df, 2)), whole_units=True, fees=0.002).trades.iloc[0]
    assert trade["size"] == math.floor(10_000 / (30 * 1.002))


def test_fraction_sizing_cannot_reverse_in_one_order() -> None:
    df = frame([50, 51, 52, 53, 54])
    signals = Signals(flags(df, 0), flags(df), short_entries=flags(df, 2), short_exits=flags(df))
    with pytest.raises(InvalidInput, match="cannot reverse"):
        backtest(df, signals, sizing=Sizing.fraction(0.5))


def test_short_entry_reverses_a_long_and_profits_from_a_fall() -> None:
    df = frame([100, 100, 120, 120, 90, 90])
    signals = Signals(flags(df, 0), flags(df), short_entries=flags(df, 2), short_exits=flags(df, 4))
    report = backtest(df, signals, sizing=Sizing.units(1))
    assert list(report.trades["direction"]) == ["long", "short"]
    assert list(report.trades["pnl"]) == pytest.approx([20.0, 30.0])
    assert report.final_equity == pytest.approx(10_050)


@pytest.mark.parametrize(("unit", "target"), [("fraction", 0.5), ("units", 50.0), ("cash", 5_000.0)])
def test_targets_set_the_position_to_hold(unit: str, target: float) -> None:
    df = frame([100, 100, 100, 200, 200])
    position = pd.Series([target, np.nan, np.nan, np.nan, 0.0], index=df.index)
    report = backtest(df, Targets(position, unit=unit), fill="close")  # type: ignore[arg-type]
    assert report.trades.iloc[0]["size"] == pytest.approx(50)
    assert report.final_equity == pytest.approx(15_000)


def test_negative_targets_go_short() -> None:
    df = frame([100, 100, 80, 80])
    report = backtest(df, Targets(pd.Series([-1.0, np.nan, 0.0, np.nan], index=df.index), unit="units"))
    assert list(report.trades["direction"]) == ["short"]
    assert report.final_equity == pytest.approx(10_020)


def test_targets_carry_their_own_size() -> None:
    df = frame([100, 101])
    with pytest.raises(InvalidInput, match="Targets carry their own size"):
        backtest(df, Targets(pd.Series([1.0, 1.0], index=df.index)), sizing=Sizing.units(1))


# --- report ----------------------------------------------------------------------------------------------


def test_plot_shows_price_with_trade_markers_equity_and_drawdown(goog_1d: pd.DataFrame, btc_5m: pd.DataFrame) -> None:
    report = run(goog_1d, sma_crossover)
    figure = report.plot()
    traces = {trace.name: trace for trace in figure.data}
    assert traces["price"].type == "candlestick"
    assert len(traces["long entry"].x) == report.num_trades and len(traces["short entry"].x) == 0
    assert len(traces["exit"].x) == (~report.trades["is_open"]).sum()
    assert {traces["equity"].yaxis, traces["drawdown"].yaxis} == {"y2", "y3"}
    assert traces["exit"].x[0] == report.trades["exit_time"].iloc[0].tz_convert(None)
    large = run(btc_5m.iloc[:6_000], sma_crossover).plot()
    assert large.data[0].type == "scattergl" and len(large.data[0].x) == 6_000


def test_repr_is_a_one_line_summary(goog_1d: pd.DataFrame) -> None:
    text = repr(run(goog_1d, sma_crossover))
    assert text.startswith("Report(2004-08-19 00:00 to 2013-03-01 00:00 UTC, 2148 bars:") and "\n" not in text


# --- metrics -----------------------------------------------------------------------------------------------


def test_metrics_match_a_direct_computation_from_the_equity_curve(goog_1d: pd.DataFrame) -> None:
    report = run(goog_1d, sma_crossover, {"fast": 10, "slow": 30}, fees=0.002)
    equity, returns = report.equity, report.returns
    assert report.periods_per_year == 252
    assert returns.iloc[0] == pytest.approx(equity.iloc[0] / 10_000 - 1)
    assert returns.iloc[1:].to_numpy() == pytest.approx(equity.pct_change().iloc[1:].to_numpy())
    assert report.total_return == pytest.approx(equity.iloc[-1] / 10_000 - 1)
    assert report.volatility == pytest.approx(returns.std() * math.sqrt(252))
    assert report.sharpe == pytest.approx(returns.mean() / returns.std() * math.sqrt(252))
    downside = math.sqrt((returns.clip(upper=0) ** 2).mean())
    assert report.sortino == pytest.approx(returns.mean() / downside * math.sqrt(252))
    peaks = equity.cummax().clip(lower=10_000)
    assert report.max_drawdown == pytest.approx((equity / peaks - 1).min())
    years = (goog_1d.index[-1] - goog_1d.index[0] + DAY) / pd.Timedelta(days=365.25)
    assert report.cagr == pytest.approx((1 + report.total_return) ** (1 / years) - 1)
    assert report.calmar == pytest.approx(report.cagr / -report.max_drawdown)
    closed = report.trades[~report.trades["is_open"]]
    assert report.win_rate == pytest.approx((closed["pnl"] > 0).mean())
    assert report.profit_factor == pytest.approx(closed["pnl"].clip(lower=0).sum() / -closed["pnl"].clip(upper=0).sum())
    assert report.expectancy == pytest.approx(closed["pnl"].mean())
    assert report.num_trades == len(report.trades)
    assert report.fees_paid == pytest.approx(report.trades["fees"].sum())


def test_equity_curve_matches_vectorbts_own_bookkeeping(eth_1h: pd.DataFrame) -> None:
    import vectorbt as vbt

    signals = sma_crossover(eth_1h, 10, 30)
    both_ways = Signals(signals.entries, signals.exits, short_entries=signals.exits, short_exits=signals.entries)
    report = backtest(eth_1h, both_ways, fees=0.001, slippage=0.0005)
    shifted = {name: getattr(both_ways, name).shift(1, fill_value=False).to_numpy()
               for name in ("entries", "exits", "short_entries", "short_exits")}
    reference = vbt.Portfolio.from_signals(eth_1h["close"].to_numpy(), price=eth_1h["open"].to_numpy(), **shifted,
                                           fees=0.001, slippage=0.0005, init_cash=10_000.0, engine="rust")
    np.testing.assert_allclose(report.equity.to_numpy(), reference.value().to_numpy(), rtol=1e-12)
    assert report.num_trades == len(reference.exit_trades.values)


def test_drawdown_duration_and_exposure_on_a_known_path() -> None:
    df = frame([100, 100, 120, 90, 100, 130, 130, 130, 130, 130])
    report = backtest(df, Targets(pd.Series([1.0] + [np.nan] * 4 + [0.0] * 5, index=df.index), unit="units"),
                      fill="close")
    # One unit bought at 100: equity peaks at 10_020 on bar 2, is underwater on bars 3-4 (lowest 9_990) and
    # regains the peak on bar 5 (three days), where the position is closed.
    assert report.max_drawdown == pytest.approx(9_990 / 10_020 - 1)
    assert report.max_drawdown_duration == 3 * DAY
    assert report.exposure == pytest.approx(5 / 10)


def test_a_backtest_without_trades_has_undefined_ratios_and_clean_json() -> None:
    df = frame([100, 101, 102, 103])
    report = backtest(df, Signals(flags(df), flags(df)))
    assert report.num_trades == 0 and report.exposure == 0 and report.max_drawdown == 0
    assert math.isnan(report.sharpe) and math.isnan(report.win_rate) and math.isnan(report.profit_factor)
    summary = report.to_dict()
    assert summary["sharpe"] is None and summary["win_rate"] is None and summary["trades"] == []
    assert summary["max_drawdown_duration"] == "P0DT0H0M0S"


def test_to_dict_is_json_with_iso_times(goog_1d: pd.DataFrame) -> None:
    summary = run(goog_1d, sma_crossover, fees=0.002).to_dict()
    text = json.dumps(summary, allow_nan=False)
    assert json.loads(text) == summary
    assert summary["start"] == "2004-08-19T00:00:00+00:00"
    assert summary["num_trades"] == len(summary["trades"])
    last = summary["trades"][-1]
    assert last["is_open"] is True and last["exit_time"] is None and last["exit_price"] is None
    assert pd.Timestamp(summary["trades"][0]["entry_time"]).tzname() == "UTC"


def test_report_series_carry_the_frames_utc_index(eth_1h: pd.DataFrame) -> None:
    report = run(eth_1h, sma_crossover)
    for series in (report.equity, report.drawdown, report.returns):
        assert series.index.equals(eth_1h.index) and str(series.index.tz) == "UTC"
    assert str(report.trades["entry_time"].dt.tz) == "UTC"
    assert (report.drawdown <= 0).all()


# --- annualisation -----------------------------------------------------------------------------------------


def test_periods_per_year_follow_the_market_calendar(btc_5m: pd.DataFrame, orcl_1d: pd.DataFrame) -> None:
    assert infer_periods_per_year(btc_5m.index) == 365 * 288
    assert infer_periods_per_year(btc_5m.index[:500]) == 365 * 288  # under a week: cannot see weekends
    assert infer_periods_per_year(orcl_1d.index) == 252
    weekly = pd.date_range("2020-01-06", periods=60, freq="7D", tz="UTC")
    assert infer_periods_per_year(weekly) == pytest.approx(365 / 7)
    minutes = pd.date_range("2024-01-01", periods=20_000, freq="5min", tz="UTC")
    session = minutes[(minutes.day_of_week < 5) & (minutes.hour >= 14) & (minutes.hour < 21)]
    assert infer_periods_per_year(session) == 252 * 84


def test_periods_per_year_can_be_overridden(goog_1d: pd.DataFrame) -> None:
    inferred = run(goog_1d, sma_crossover)
    calendar = run(goog_1d, sma_crossover, periods_per_year=365)
    assert calendar.sharpe == pytest.approx(inferred.sharpe * math.sqrt(365 / 252))
    assert calendar.cagr == inferred.cagr


# --- input checks ------------------------------------------------------------------------------------------


def test_bad_frames_are_rejected_with_a_fix() -> None:
    df = frame([1, 2, 3])
    with pytest.raises(InvalidInput, match="tz_localize"):
        backtest(df.tz_localize(None), Signals(flags(df), flags(df)))
    with pytest.raises(InvalidInput, match="lacks column"):
        backtest(df.drop(columns="open"), Signals(flags(df), flags(df)))
    with pytest.raises(InvalidInput, match="strictly increasing"):
        backtest(df.iloc[[0, 2, 1]], Signals(flags(df), flags(df)))
    with pytest.raises(InvalidInput, match="missing or infinite"):
        backtest(df.assign(close=[1.0, np.nan, 3.0]), Signals(flags(df), flags(df)))


def test_bad_options_are_rejected_with_a_fix() -> None:
    df = frame([1, 2, 3])
    signals = Signals(flags(df), flags(df))
    with pytest.raises(InvalidInput, match="Did you mean 'fees'"):
        backtest(df, signals, fee=0.001)  # type: ignore[call-arg]
    with pytest.raises(InvalidInput, match=r"0\.001 means 0\.1%"):
        backtest(df, signals, fees=1.5)
    with pytest.raises(InvalidInput, match="fill must be"):
        backtest(df, signals, fill="open")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="share of equity"):
        Sizing.fraction(25)


def test_signals_must_be_aligned_booleans() -> None:
    df = frame([1, 2, 3])
    with pytest.raises(InvalidInput, match="not aligned"):
        backtest(df, Signals(flags(df).iloc[1:], flags(df)))
    with pytest.raises(InvalidInput, match="dtype bool"):
        backtest(df, Signals(flags(df).astype(float), flags(df)))


def test_a_strategy_must_return_signals_and_its_errors_name_the_params() -> None:
    df = frame([1, 2, 3])
    with pytest.raises(InvalidInput, match="must return a Signals"):
        run(df, lambda df: df["close"] > 1)

    def broken(df: pd.DataFrame, window: int) -> Signals:
        raise ZeroDivisionError("oops")

    with pytest.raises(ZeroDivisionError) as raised:
        run(df, broken, {"window": 3})
    assert "broken(df, **{'window': 3})" in raised.value.__notes__[0]


# --- engine ------------------------------------------------------------------------------------------------


def test_the_common_path_runs_on_rust_and_never_compiles_numba() -> None:
    """A fresh process: backtest, grid, plot, lookahead, shorts and targets must not JIT one numba function."""
    script = textwrap.dedent(
        f"""
        import gc, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import numpy as np, pandas as pd
        from conftest import read_backtesting_sample
        from numba.core.dispatcher import Dispatcher
        from alphabook.research.backtest import Signals, Sizing, Targets, backtest, check_lookahead, grid, run
        from alphabook.research.strategies import sma_crossover
        df = read_backtesting_sample("GOOG")
        run(df, sma_crossover, fees=0.001).plot()
        s = sma_crossover(df)
        backtest(df, Signals(s.entries, s.exits, s.exits, s.entries), sizing=Sizing.cash(500), fill="close")
        backtest(df, Targets(pd.Series(np.where(s.entries, 1.0, np.nan), index=df.index)))
        grid(df, sma_crossover, {{"fast": [5, 10], "slow": [20, 30]}})
        check_lookahead(df, sma_crossover, checkpoints=2)
        print(sum(1 for o in gc.get_objects() if isinstance(o, Dispatcher) and o.signatures))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "0", done.stderr
