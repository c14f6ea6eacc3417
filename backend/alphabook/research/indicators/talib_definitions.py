"""Where TA-Lib and pandas-ta-classic define the same indicator differently, and why alphabook uses TA-Lib's.

Every indicator both libraries have is cross-checked on real data (tests/unit/research/
test_indicators_crosscheck.py). These are the ones that do not agree within 1e-6 after TA-Lib's warm-up;
the note becomes the indicator's ``definition`` and the test asserts the difference is really there, so
a note cannot outlive the difference it describes. alphabook always uses TA-Lib's definition: it is the
reference most platforms reproduce, one C implementation for the whole registry, and the one the
benchmarks hold to a speed budget; the notes say what else speaks for it in each case.
"""

from __future__ import annotations

__all__ = ["DEFINITIONS"]

DEFINITIONS: dict[str, str] = {
    "BETA": "TA-Lib's BETA(price0, price1) is the beta of price1's returns against price0's: price0 is the "
    "benchmark (cov / var(price0)). pandas-ta-classic's beta(close, benchmark) takes the asset first, so its "
    "beta(a, b) equals TA-Lib's BETA(b, a); with the same argument order the two disagree.",
    "CMO": "TA-Lib's CMO smooths gains and losses with Wilder's average, which makes it exactly 2 x RSI - 100. "
    "Chande's original, with plain sums over the window, is `cmou`; that is what pandas-ta-classic's cmo "
    "(talib=False) computes, and it agrees with `cmou`.",
    "DPO": "TA-Lib: close from timeperiod/2 + 1 bars ago minus today's SMA(timeperiod), the usual definition, "
    "using only past data. pandas-ta-classic's dpo(centered=False) subtracts the SMA from that many bars ago "
    "from today's close instead, and its default centered=True shifts the series back, which reads future "
    "bars.",
    "FOSC": "TA-Lib compares the close with the forecast the regression made on the previous bar (as Tulip "
    "Indicators does), so the oscillator measures forecast error. pandas-ta-classic's fosc uses the same "
    "bar's TSF, whose regression already includes the close it is compared with.",
    "KC": "TA-Lib: EMA(typical price, timeperiod) +/- nbdev x ATR(atrperiod), the ATR being Wilder's average of "
    "the true range. pandas-ta-classic's kc centres an EMA of the close and uses an EMA of the true range over "
    "the same length, so both the middle line and the width differ.",
    "MACD": "TA-Lib starts the fast EMA on the same bar as the slow one, so macd, signal and histogram all begin "
    "at slowperiod + signalperiod - 2; pandas-ta-classic seeds each EMA at its own period. The seeds differ "
    "right after the warm-up and the gap decays away: the two agree within 1e-6 about a hundred bars later.",
    "MACDFIX": "TA-Lib's MACDFIX uses the fixed smoothing constants 0.15 and 0.075 (the classic 12/26 MACD "
    "as Appel published it, not 2/(n+1)). pandas-ta-classic's macdfix is the ordinary 12/26 EMA MACD.",
    "NVI": "TA-Lib compounds: on a bar whose volume fell, NVI *= 1 + the close's rate of change (Fosback's "
    "definition, starting at 1000). pandas-ta-classic adds the rate of change in percent points instead, so "
    "its index drifts away from TA-Lib's.",
    "PVI": "TA-Lib compounds: on a bar whose volume rose, PVI *= 1 + the close's rate of change (Fosback's "
    "definition, starting at 1000). pandas-ta-classic adds the rate of change in percent points instead.",
    "PVT": "TA-Lib adds volume x fractional change of the close and starts at 0 on the first bar. "
    "pandas-ta-classic multiplies by the change in percent (100 times larger) and starts one bar later.",
    "PERCENTILE": "TA-Lib reports the nearest-rank percentile (always one of the window's values). "
    "pandas-ta-classic's quantile interpolates linearly between neighbours, so results differ whenever the "
    "rank falls between two values.",
    "RVI": "TA-Lib follows Dorsey's definition: standard deviations over stddevperiod (default 10), split by "
    "direction and smoothed with Wilder's average over timeperiod. pandas-ta-classic's rvi smooths with an "
    "EMA by default and uses one length for both; with mamode='rma' and equal periods the two agree.",
    "SAR": "On the third bar TA-Lib clamps the SAR with the previous bar's extreme only (the position opened on "
    "the second bar), pandas-ta-classic's psar with the previous two bars' (including the one before the "
    "position opened), so its SAR repeats on that bar, trails TA-Lib's afterwards and can reverse on "
    "different bars.",
    "SAREXT": "The same first-step difference as `sar` (see there); TA-Lib's SAREXT also reports short "
    "positions as negative values, as pandas-ta-classic's sarext does.",
    "SMI": "Different indicators under one name: TA-Lib's SMI is Blau's Stochastic Momentum Index (where the "
    "close sits within the high-low range, double-smoothed), while pandas-ta-classic's smi is the SMI "
    "Ergodic indicator (a TSI of the close with a signal line).",
    "STOCHRSI": "TA-Lib's fastk is the raw stochastic of RSI and fastd its moving average; pandas-ta-classic "
    "(talib=False) already smooths its k, so its k equals TA-Lib's fastd and its d is smoothed once more, "
    "while pandas-ta-classic with talib=True returns TA-Lib's values under the same names.",
    "SUPERTREND": "TA-Lib ratchets both bands on every bar, as TradingView's supertrend does (the lower band "
    "never falls while the previous close stays above it, the upper never rises while it stays below). "
    "pandas-ta-classic ratchets only the band of the current trend, so after some flips its stop starts "
    "from the raw band and the two differ; TA-Lib also reports trend 0 during the warm-up.",
    "TRIMA": "pandas-ta-classic's trima (talib=False) is wrong for even lengths: it averages two SMAs of "
    "length/2 + 1 bars, a window one bar too long. For odd lengths it agrees with TA-Lib.",
    "VWAP": "TA-Lib's VWAP is cumulative from the first bar of the frame (typical price x volume / volume). "
    "pandas-ta-classic's vwap restarts every anchor period (daily by default). For a session VWAP, compute "
    "vwap on each session's slice of the frame.",
}
