"""How much to trust a backtest's Sharpe ratio once you know how many were tried.

Implements Bailey & López de Prado's Probabilistic Sharpe Ratio (PSR) and Deflated Sharpe Ratio (DSR),
"The Deflated Sharpe Ratio: Correcting for Selection Bias, Backtest Overfitting and Non-Normality"
(Journal of Portfolio Management, 2014). scipy supplies the normal distribution and sample moments.

The marketplace shows both the number of trials behind a published result and its DSR: the probability
that the true Sharpe ratio is above what the best of that many *unskilled* trials would show by luck.
All Sharpe ratios here are per-period (not annualised), as in the paper.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from alphabook.core.errors import InvalidInput

EULER_MASCHERONI = 0.5772156649015329


@dataclass(frozen=True, slots=True)
class DeflatedSharpe:
    """The DSR of one selected result, with the quantities it was computed from."""

    sharpe: float  # per-period Sharpe ratio of the selected result
    expected_max_sharpe: float  # SR0: the best per-period Sharpe expected from n_trials unskilled trials
    n_trials: int
    n_observations: int
    skewness: float
    kurtosis: float  # non-excess (a normal distribution has 3)
    probability: float  # DSR: P(true Sharpe > SR0)

    @property
    def verdict(self) -> str:
        if self.probability >= 0.95:
            return f"likely real: {self.probability:.0%} confidence it beats the best of {self.n_trials} lucky tries"
        if self.probability >= 0.5:
            return f"uncertain: only {self.probability:.0%} confidence after {self.n_trials} tries"
        return f"likely luck: {self.probability:.0%} confidence after {self.n_trials} tries"


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark: float, n_observations: int, skewness: float = 0.0, kurtosis: float = 3.0
) -> float:
    """P(true Sharpe > ``benchmark``) given an observed per-period ``sharpe`` over ``n_observations``."""
    if n_observations < 2:
        raise InvalidInput("The Sharpe ratio's confidence needs at least 2 return observations.")
    variance = 1 - skewness * sharpe + (kurtosis - 1) / 4 * sharpe**2
    if variance <= 0:
        raise InvalidInput("These skewness and kurtosis values give the Sharpe estimate no valid variance.")
    return float(stats.norm.cdf((sharpe - benchmark) * math.sqrt(n_observations - 1) / math.sqrt(variance)))


def expected_max_sharpe(trial_sharpe_variance: float, n_trials: int) -> float:
    """SR0: the expected maximum of ``n_trials`` Sharpe ratios whose true value is zero (the paper's eq. 6)."""
    if n_trials < 1:
        raise InvalidInput("The number of trials must be at least 1.")
    if n_trials == 1:
        return 0.0
    quantile = stats.norm.ppf
    spread = (1 - EULER_MASCHERONI) * quantile(1 - 1 / n_trials) + EULER_MASCHERONI * quantile(
        1 - 1 / (n_trials * math.e)
    )
    return float(math.sqrt(max(trial_sharpe_variance, 0.0)) * spread)


def deflated_sharpe_ratio(
    returns: pd.Series | np.ndarray | Sequence[float],
    n_trials: int,
    trial_sharpes: Sequence[float] | None = None,
) -> DeflatedSharpe:
    """DSR of a selected strategy's per-period ``returns`` chosen as the best of ``n_trials``.

    ``trial_sharpes`` are the per-period Sharpe ratios of all trials; their variance sets SR0. Without
    them the variance of the Sharpe estimator itself is used (a conservative stand-in when trials were
    not recorded).
    """
    values = np.asarray(returns, dtype="float64")
    values = values[np.isfinite(values)]
    if values.size < 3:
        raise InvalidInput("The deflated Sharpe ratio needs at least 3 returns.")
    deviation = values.std(ddof=1)
    sharpe = float(values.mean() / deviation) if deviation > 0 else 0.0
    skewness = float(stats.skew(values)) if deviation > 0 else 0.0
    kurtosis = float(stats.kurtosis(values, fisher=False)) if deviation > 0 else 3.0
    if trial_sharpes is not None and len(trial_sharpes) >= 2:
        variance = float(np.var(np.asarray(trial_sharpes, dtype="float64"), ddof=1))
    else:
        variance = (1 - skewness * sharpe + (kurtosis - 1) / 4 * sharpe**2) / (values.size - 1)
    benchmark = expected_max_sharpe(variance, n_trials)
    return DeflatedSharpe(
        sharpe=sharpe,
        expected_max_sharpe=benchmark,
        n_trials=n_trials,
        n_observations=int(values.size),
        skewness=skewness,
        kurtosis=kurtosis,
        probability=probabilistic_sharpe_ratio(sharpe, benchmark, int(values.size), skewness, kurtosis),
    )
