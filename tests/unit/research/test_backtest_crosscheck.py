"""Cross-check against an independent event-driven engine: backtesting.py (the ``backtesting`` package).

Aligned conventions: backtesting.py's default ``trade_on_close=False`` fills an order placed on bar t's
close at bar t+1's open, buys ``floor(cash / (price * (1 + commission)))`` whole units and charges the
commission rate on entry and on exit; ours is ``fill="next_open"`` (default), ``whole_units=True`` and
``fees=commission``. Both engines read the same signals (computed once by ``sma_crossover``), so any
difference would come from the simulation, not from the moving averages. Trades still open at the end are
left open by both (backtesting.py lists closed trades only; its final equity marks the open one to close).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest, Strategy

from alphabook.research.backtest import Signals, backtest
from alphabook.research.strategies import sma_crossover

COMMISSION = 0.002
CASH = 10_000


def backtesting_py(df: pd.DataFrame, signals: Signals) -> pd.Series:
    entries, exits = signals.entries.to_numpy(), signals.exits.to_numpy()

    class FromSignals(Strategy):  # type: ignore[misc]  # backtesting is untyped
        def init(self) -> None:
            self.entry = self.I(lambda: entries, name="entry", plot=False)
            self.exit = self.I(lambda: exits, name="exit", plot=False)

        def next(self) -> None:
            if self.entry[-1] and not self.position:
                self.buy()
            elif self.exit[-1] and self.position:
                self.position.close()

    data = df.rename(columns=str.capitalize).tz_localize(None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "some trades remain open": expected, compared below
        return Backtest(data, FromSignals, cash=CASH, commission=COMMISSION).run()


@pytest.mark.parametrize(("data", "fast", "slow"), [("goog_1d", 10, 30), ("eth_1h", 20, 50)])
def test_same_trades_and_final_equity_as_backtesting_py(
    data: str, fast: int, slow: int, request: pytest.FixtureRequest
) -> None:
    df: pd.DataFrame = request.getfixturevalue(data)
    signals = sma_crossover(df, fast=fast, slow=slow)
    ours = backtest(df, signals, init_cash=CASH, fees=COMMISSION, whole_units=True)
    theirs = backtesting_py(df, signals)
    closed = ours.trades[~ours.trades["is_open"]]
    their_trades = theirs["_trades"]
    assert len(closed) == len(their_trades) > 10
    np.testing.assert_array_equal(df.index.get_indexer(closed["entry_time"]), their_trades["EntryBar"])
    np.testing.assert_array_equal(df.index.get_indexer(closed["exit_time"]), their_trades["ExitBar"])
    np.testing.assert_array_equal(closed["size"], their_trades["Size"])
    np.testing.assert_allclose(closed["entry_price"], their_trades["EntryPrice"], rtol=1e-12)
    np.testing.assert_allclose(closed["exit_price"], their_trades["ExitPrice"], rtol=1e-12)
    np.testing.assert_allclose(closed["pnl"], their_trades["PnL"], rtol=1e-9)
    assert ours.final_equity == pytest.approx(theirs["Equity Final [$]"], rel=1e-12)
    np.testing.assert_allclose(ours.equity.to_numpy(), theirs["_equity_curve"]["Equity"].to_numpy(), rtol=1e-12)
