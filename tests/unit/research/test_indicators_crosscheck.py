"""TA-Lib against pandas-ta-classic's own implementation, for every indicator both libraries have.

alphabook computes these with TA-Lib. Each case below calls pandas-ta-classic with the same parameters
(``talib=False``, and with pandas-ta-classic's TA-Lib switch off so nested helpers use its own code too)
and compares after TA-Lib's warm-up: two values agree when ``|ours - theirs| <= 1e-6 * max(1, |theirs|)``,
i.e. within 1e-6 relative for values of magnitude 1 or more and 1e-6 absolute below that.

Where the registry's ``definition`` names a difference with pandas-ta-classic, the test asserts that the
difference really shows on real data (so the note cannot go stale); everywhere else it asserts agreement.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest

from alphabook.research.indicators import compute, get, registry

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # pandas-ta-classic 0.8.32 uses a deprecated pandas API
    import pandas_ta_classic as ta

F = False  # pandas-ta-classic's talib flag: always its own implementation
BARS = 4000  # the pure-Python Hilbert transform and KAMA take ~0.3 ms a bar in pandas-ta-classic
TOLERANCE = 1e-6


@dataclass(frozen=True)
class Case:
    """``name`` computed by alphabook with ``params`` vs ``theirs(frame)``, columns in our output order."""

    name: str
    theirs: Callable[[pd.DataFrame], Any]
    params: dict[str, Any] = field(default_factory=dict)
    agree_after: int | None = None  # a documented seeding difference that fades after this many bars

    @property
    def id(self) -> str:
        return f"{self.name}{'-' if self.params else ''}{'-'.join(map(str, self.params.values()))}"


def pick(result: Any, *columns: int) -> pd.DataFrame:
    table = result.to_frame() if isinstance(result, pd.Series) else result
    return table.iloc[:, list(columns)] if columns else table


def psar(s: pd.DataFrame) -> pd.Series:
    both = ta.psar(s.high, s.low, s.close, talib=F)
    return both.iloc[:, 0].fillna(both.iloc[:, 1])  # pandas-ta-classic splits SAR into long and short columns


CASES = [
    # overlap
    Case("bbands", lambda s: pick(ta.bbands(s.close, 20, 2.0, talib=F), 2, 1, 0),
         {"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0}),
    Case("dema", lambda s: ta.dema(s.close, 30, talib=F), {"timeperiod": 30}),
    Case("ema", lambda s: ta.ema(s.close, 30, talib=F), {"timeperiod": 30}),
    Case("hma", lambda s: ta.hma(s.close, 20), {"timeperiod": 20}),
    Case("ht_trendline", lambda s: ta.ht_trendline(s.close, talib=F)),
    Case("kama", lambda s: ta.kama(s.close, 30, talib=F), {"timeperiod": 30}),
    Case("ma", lambda s: ta.ma("wma", s.close, length=30, talib=F), {"timeperiod": 30, "matype": "wma"}),
    Case("mama", lambda s: ta.mama(s.close, 0.5, 0.05, talib=F), {"fastlimit": 0.5, "slowlimit": 0.05}),
    Case("midpoint", lambda s: ta.midpoint(s.close, 14, talib=F), {"timeperiod": 14}),
    Case("midprice", lambda s: ta.midprice(s.high, s.low, 14, talib=F), {"timeperiod": 14}),
    Case("rma", lambda s: ta.rma(s.close, 30), {"timeperiod": 30}),
    Case("sar", psar),
    Case("sarext", lambda s: ta.sarext(s.high, s.low, talib=F)),
    Case("sma", lambda s: ta.sma(s.close, 30, talib=F), {"timeperiod": 30}),
    Case("supertrend", lambda s: pick(ta.supertrend(s.high, s.low, s.close, 10, 3.0), 0, 1),
         {"timeperiod": 10, "multiplier": 3.0}),
    Case("t3", lambda s: ta.t3(s.close, 5, 0.7, talib=F), {"timeperiod": 5, "vfactor": 0.7}),
    Case("tema", lambda s: ta.tema(s.close, 30, talib=F), {"timeperiod": 30}),
    Case("trima", lambda s: ta.trima(s.close, 30, talib=F), {"timeperiod": 30}),
    Case("vwap", lambda s: ta.vwap(*(s.tz_convert(None)[c] for c in ("high", "low", "close", "volume")), anchor="D")),
    Case("vwma", lambda s: ta.vwma(s.close, s.volume, 30), {"timeperiod": 30}),
    Case("wma", lambda s: ta.wma(s.close, 30, talib=F), {"timeperiod": 30}),
    Case("zlema", lambda s: ta.zlma(s.close, 30, mamode="ema"), {"timeperiod": 30}),
    Case("accbands", lambda s: pick(ta.accbands(s.high, s.low, s.close, 20), 2, 1, 0), {"timeperiod": 20}),
    Case("donchian", lambda s: pick(ta.donchian(s.high, s.low, 20, 20), 2, 1, 0), {"timeperiod": 20}),
    Case("kc", lambda s: pick(ta.kc(s.high, s.low, s.close, 20, 2.0), 2, 1, 0),
         {"timeperiod": 20, "atrperiod": 20, "nbdev": 2.0}),
    # momentum
    Case("adx", lambda s: pick(ta.adx(s.high, s.low, s.close, 14, talib=F), 0), {"timeperiod": 14}),
    Case("adxr", lambda s: pick(ta.adxr(s.high, s.low, s.close, 14, talib=F), 0), {"timeperiod": 14}),
    Case("plus_di", lambda s: pick(ta.adx(s.high, s.low, s.close, 14, talib=F), 1), {"timeperiod": 14}),
    Case("minus_di", lambda s: pick(ta.adx(s.high, s.low, s.close, 14, talib=F), 2), {"timeperiod": 14}),
    Case("plus_dm", lambda s: ta.plus_dm(s.high, s.low, 14, talib=F), {"timeperiod": 14}),
    Case("minus_dm", lambda s: ta.minus_dm(s.high, s.low, 14, talib=F), {"timeperiod": 14}),
    Case("dx", lambda s: ta.dx(s.high, s.low, s.close, 14, talib=F), {"timeperiod": 14}),
    Case("ao", lambda s: ta.ao(s.high, s.low, 5, 34), {"fastperiod": 5, "slowperiod": 34}),
    Case("apo", lambda s: ta.apo(s.close, 12, 26, mamode="sma", talib=F),
         {"fastperiod": 12, "slowperiod": 26, "matype": "sma"}),
    Case("aroon", lambda s: pick(ta.aroon(s.high, s.low, 14, talib=F), 0, 1), {"timeperiod": 14}),
    Case("aroonosc", lambda s: pick(ta.aroon(s.high, s.low, 14, talib=F), 2), {"timeperiod": 14}),
    Case("bop", lambda s: ta.bop(s.open, s.high, s.low, s.close, talib=F)),
    Case("cci", lambda s: ta.cci(s.high, s.low, s.close, 14, talib=F), {"timeperiod": 14}),
    Case("cmo", lambda s: ta.cmo(s.close, 14, talib=F), {"timeperiod": 14}),
    Case("cmou", lambda s: ta.cmo(s.close, 14, talib=F), {"timeperiod": 14}),
    Case("coppock", lambda s: ta.coppock(s.close, length=10, fast=11, slow=14),
         {"wmaperiod": 10, "roc1period": 11, "roc2period": 14}),
    Case("dpo", lambda s: ta.dpo(s.close, 20, centered=False), {"timeperiod": 20}),
    Case("er", lambda s: ta.er(s.close, 10), {"timeperiod": 10}),
    Case("eri", lambda s: ta.eri(s.high, s.low, s.close, 13), {"timeperiod": 13}),
    Case("fosc", lambda s: ta.fosc(s.close, 5), {"timeperiod": 5}),
    Case("kdj", lambda s: ta.kdj(s.high, s.low, s.close, 9, 3),
         {"fastk_period": 9, "slowk_period": 3, "slowk_matype": "rma", "slowd_period": 3, "slowd_matype": "rma"}),
    Case("macd", lambda s: pick(ta.macd(s.close, 12, 26, 9, talib=F), 0, 2, 1),
         {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}, agree_after=150),
    Case("macdext", lambda s: ta.macdext(s.close, 12, 26, 9, 0, 0, 0, talib=F),
         {"fastperiod": 12, "fastmatype": "sma", "slowperiod": 26, "slowmatype": "sma", "signalperiod": 9,
          "signalmatype": "sma"}),
    Case("macdfix", lambda s: pick(ta.macdfix(s.close, 9, talib=F), 0, 2, 1), {"signalperiod": 9}),
    Case("mfi", lambda s: ta.mfi(s.high, s.low, s.close, s.volume, 14, talib=F), {"timeperiod": 14}),
    Case("mom", lambda s: ta.mom(s.close, 10, talib=F), {"timeperiod": 10}),
    Case("ppo", lambda s: pick(ta.ppo(s.close, 12, 26, mamode="sma", talib=F), 0),
         {"fastperiod": 12, "slowperiod": 26, "matype": "sma"}),
    Case("qstick", lambda s: ta.qstick(s.open, s.close, 10), {"timeperiod": 10}),
    Case("roc", lambda s: ta.roc(s.close, 10, talib=F), {"timeperiod": 10}),
    Case("rocp", lambda s: ta.rocp(s.close, 10, talib=F), {"timeperiod": 10}),
    Case("rocr", lambda s: ta.rocr(s.close, 10, talib=F), {"timeperiod": 10}),
    Case("rocr100", lambda s: ta.rocr100(s.close, 10, talib=F), {"timeperiod": 10}),
    Case("rsi", lambda s: ta.rsi(s.close, 14, talib=F), {"timeperiod": 14}),
    Case("smi", lambda s: pick(ta.smi(s.close, 13, 25, 9), 0, 1),
         {"timeperiod": 13, "fastperiod": 2, "slowperiod": 25, "signalperiod": 9}),
    Case("stoch", lambda s: ta.stoch(s.high, s.low, s.close, 14, 3, 3, talib=F),
         {"fastk_period": 14, "slowk_period": 3, "slowd_period": 3}),
    Case("stochf", lambda s: ta.stochf(s.high, s.low, s.close, 14, 3, talib=F),
         {"fastk_period": 14, "fastd_period": 3}),
    Case("stochrsi", lambda s: ta.stochrsi(s.close, 14, 14, 3, 3, talib=F),
         {"timeperiod": 14, "fastk_period": 14, "fastd_period": 3}),
    Case("trix", lambda s: pick(ta.trix(s.close, 30, talib=F), 0), {"timeperiod": 30}),
    Case("tsi", lambda s: pick(ta.tsi(s.close, fast=13, slow=25), 0), {"firstperiod": 25, "secondperiod": 13}),
    Case("ultosc", lambda s: ta.uo(s.high, s.low, s.close, 7, 14, 28, talib=F),
         {"timeperiod1": 7, "timeperiod2": 14, "timeperiod3": 28}),
    Case("vhf", lambda s: ta.vhf(s.close, 28), {"timeperiod": 28}),
    Case("vortex", lambda s: ta.vortex(s.high, s.low, s.close, 14), {"timeperiod": 14}),
    Case("willr", lambda s: ta.willr(s.high, s.low, s.close, 14, talib=F), {"timeperiod": 14}),
    # volatility
    Case("atr", lambda s: ta.atr(s.high, s.low, s.close, 14, talib=F), {"timeperiod": 14}),
    Case("natr", lambda s: ta.natr(s.high, s.low, s.close, 14, talib=F), {"timeperiod": 14}),
    Case("trange", lambda s: ta.true_range(s.high, s.low, s.close, talib=F)),
    Case("cvi", lambda s: ta.cvi(s.high, s.low, 10), {"timeperiod": 10, "rocperiod": 10}),
    Case("massi", lambda s: ta.massi(s.high, s.low, 9, 25), {"fastperiod": 9, "slowperiod": 25}),
    Case("rvi", lambda s: ta.rvi(s.close, s.high, s.low, 14), {"timeperiod": 14, "stddevperiod": 14}),
    # volume
    Case("ad", lambda s: ta.ad(s.high, s.low, s.close, s.volume, talib=F)),
    Case("adosc", lambda s: ta.adosc(s.high, s.low, s.close, s.volume, fast=3, slow=10, talib=F),
         {"fastperiod": 3, "slowperiod": 10}),
    Case("cmf", lambda s: ta.cmf(s.high, s.low, s.close, s.volume, length=20), {"timeperiod": 20}),
    Case("efi", lambda s: ta.efi(s.close, s.volume, 13), {"timeperiod": 13}),
    Case("marketfi", lambda s: ta.marketfi(s.high, s.low, s.volume)),
    Case("nvi", lambda s: ta.nvi(s.close, s.volume)),
    Case("obv", lambda s: ta.obv(s.close, s.volume, talib=F)),
    Case("pvi", lambda s: ta.pvi(s.close, s.volume)),
    Case("pvo", lambda s: pick(ta.pvo(s.volume, 12, 26), 0), {"fastperiod": 12, "slowperiod": 26, "matype": "ema"}),
    Case("pvt", lambda s: ta.pvt(s.close, s.volume)),
    Case("wad", lambda s: ta.wad(s.high, s.low, s.close)),
    # statistics
    Case("avgdev", lambda s: ta.mad(s.close, 14), {"timeperiod": 14}),
    Case("beta", lambda s: ta.beta(s.high, s.low, 5), {"timeperiod": 5}),
    Case("correl", lambda s: ta.correl(s.high, s.low, 30), {"timeperiod": 30}),
    Case("linearreg", lambda s: ta.linreg(s.close, 14, talib=F), {"timeperiod": 14}),
    Case("linearreg_angle", lambda s: ta.linregangle(s.close, 14, talib=F), {"timeperiod": 14}),
    Case("linearreg_intercept", lambda s: ta.linregintercept(s.close, 14, talib=F), {"timeperiod": 14}),
    Case("linearreg_slope", lambda s: ta.linregslope(s.close, 14, talib=F), {"timeperiod": 14}),
    Case("percentile", lambda s: ta.quantile(s.close, 30, 0.5), {"timeperiod": 30, "percentile": 50.0}),
    Case("stddev", lambda s: ta.stdev(s.close, 5, talib=F), {"timeperiod": 5, "nbdev": 1.0}),
    Case("tsf", lambda s: ta.tsf(s.close, 14, talib=F), {"timeperiod": 14}),
    Case("var", lambda s: ta.variance(s.close, 5, talib=F), {"timeperiod": 5, "nbdev": 1.0}),
    # cycle
    Case("ht_dcperiod", lambda s: ta.ht_dcperiod(s.close, talib=F)),
    Case("ht_dcphase", lambda s: ta.ht_dcphase(s.close, talib=F)),
    Case("ht_phasor", lambda s: ta.ht_phasor(s.close, talib=F)),
    Case("ht_sine", lambda s: ta.ht_sine(s.close, talib=F)),
    Case("ht_trendmode", lambda s: ta.ht_trendmode(s.close, talib=F)),
    # price transform
    Case("avgprice", lambda s: ta.avgprice(s.open, s.high, s.low, s.close, talib=F)),
    Case("ha", lambda s: ta.ha(s.open, s.high, s.low, s.close)),
    Case("medprice", lambda s: ta.medprice(s.high, s.low, talib=F)),
    Case("typprice", lambda s: ta.typprice(s.high, s.low, s.close, talib=F)),
    Case("wclprice", lambda s: ta.wcp(s.high, s.low, s.close, talib=F)),
    # candle patterns
    Case("cdl_doji", lambda s: ta.cdl_doji(s.open, s.high, s.low, s.close)),
]


# pandas-ta-classic names that differ from TA-Lib's for the same indicator
PANDAS_TA_NAMES = {
    "dm": "plus_dm", "hl2": "medprice", "hlc3": "typprice", "linreg": "linearreg", "linregangle": "linearreg_angle",
    "linregintercept": "linearreg_intercept", "linregslope": "linearreg_slope", "mad": "avgdev", "ohlc4": "avgprice",
    "psar": "sar", "quantile": "percentile", "stdev": "stddev", "true_range": "trange", "uo": "ultosc",
    "variance": "var", "wcp": "wclprice", "zlma": "zlema",
}


@pytest.fixture(scope="module", autouse=True)
def pandas_ta_without_talib() -> Iterator[None]:
    """Nested pandas-ta-classic helpers decide by a module switch; turn TA-Lib off for the whole module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(ta.Imports, "talib", False)
        yield


@pytest.fixture(scope="module")
def bars(eth_1h: pd.DataFrame) -> pd.DataFrame:
    return eth_1h.iloc[:BARS]


def deviation(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Largest ``|ours - theirs| / max(1, |theirs|)``; a NaN on one side only counts as infinite."""
    both_nan = np.isnan(ours) & np.isnan(theirs)
    gap = np.abs(ours - theirs) / np.maximum(1.0, np.abs(theirs))
    gap = np.where(both_nan, 0.0, np.where(np.isnan(gap), np.inf, gap))
    return float(gap.max(initial=0.0))


def compare(case: Case, bars: pd.DataFrame) -> tuple[float, float]:
    """(deviation after the warm-up, deviation after ``agree_after`` bars) between the libraries."""
    ours = compute(case.name, bars, **case.params)
    ours_table = (ours.to_frame() if isinstance(ours, pd.Series) else ours).to_numpy(dtype=np.float64)
    theirs = case.theirs(bars)
    theirs_table = np.asarray(pick(theirs) if not isinstance(theirs, np.ndarray) else theirs[:, None], np.float64)
    assert theirs_table.shape == ours_table.shape, f"{case.name}: compare {theirs_table.shape} to our outputs"
    warm = get(case.name).warmup(**case.params)
    later = warm + (case.agree_after or 0)
    return deviation(ours_table[warm:], theirs_table[warm:]), deviation(ours_table[later:], theirs_table[later:])


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_talib_and_pandas_ta_agree_unless_documented(case: Case, bars: pd.DataFrame) -> None:
    spec = get(case.name)
    assert spec.engine == "talib"
    after_warmup, later = compare(case, bars)
    if "pandas-ta-classic" in spec.definition:
        assert after_warmup > TOLERANCE, f"{case.name}: documented as differing, but agrees: {spec.definition}"
        if case.agree_after is not None:
            assert later <= TOLERANCE, f"{case.name}: still differs {case.agree_after} bars after the warm-up"
    else:
        assert after_warmup <= TOLERANCE, f"{case.name}: differs by {after_warmup:.3g} with no definition note"


def test_every_indicator_both_libraries_have_is_cross_checked() -> None:
    """Every pandas-ta-classic function that is also a TA-Lib-backed registry entry has a case above."""
    ours = {name for name, spec in registry.items() if spec.engine == "talib"}
    theirs = {PANDAS_TA_NAMES.get(name, name) for names in ta.Category.values() for name in names}
    assert (ours & theirs) - {case.name for case in CASES} == set()


def test_trima_defect_is_limited_to_even_lengths(bars: pd.DataFrame) -> None:
    """The documented pandas-ta-classic TRIMA defect: odd lengths agree, even ones do not."""
    odd = compute("trima", bars, timeperiod=31).to_numpy()
    theirs = ta.trima(bars.close, 31, talib=F).to_numpy()
    assert deviation(odd[30:], theirs[30:]) <= TOLERANCE


def test_rvi_agrees_with_wilder_smoothing_and_equal_periods(bars: pd.DataFrame) -> None:
    """The RVI note's claim: pandas-ta-classic's rvi with mamode='rma' is TA-Lib's with stddevperiod = timeperiod."""
    ours = compute("rvi", bars, timeperiod=14, stddevperiod=14).to_numpy()
    theirs = ta.rvi(bars.close, bars.high, bars.low, 14, mamode="rma").to_numpy()
    warm = get("rvi").warmup(timeperiod=14, stddevperiod=14)
    assert deviation(ours[warm:], theirs[warm:]) <= TOLERANCE


def test_beta_agrees_once_pandas_ta_arguments_are_swapped(bars: pd.DataFrame) -> None:
    ours = compute("beta", bars, timeperiod=5).to_numpy()
    theirs = ta.beta(bars.low, bars.high, 5).to_numpy()
    assert deviation(ours[5:], theirs[5:]) <= TOLERANCE
