"""A/B comparison of two strategy variants: is B's edge over A more than noise?

scipy does the statistics: a t-test on the mean difference (paired when both variants' returns share
timestamps, since they then face the same market; Welch's otherwise) and a bootstrap confidence interval
of the difference in mean returns (``scipy.stats.bootstrap``, BCa). The verdict says in plain words
what the numbers mean, because that is what a person reads first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from alphabook.core.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class ABResult:
    mean_a: float
    mean_b: float
    difference: float  # mean(B) - mean(A), per period
    t_statistic: float
    p_value: float
    ci_low: float  # bootstrap confidence interval of the difference
    ci_high: float
    confidence: float
    paired: bool
    n_a: int
    n_b: int

    @property
    def significant(self) -> bool:
        return self.p_value < 1 - self.confidence and not (self.ci_low <= 0 <= self.ci_high)

    @property
    def verdict(self) -> str:
        better, worse = ("B", "A") if self.difference > 0 else ("A", "B")
        level = f"{self.confidence:.0%}"
        if self.significant:
            return (f"{better} beats {worse}: the difference in mean return per period is between "
                    f"{self.ci_low:+.3%} and {self.ci_high:+.3%} ({level} confidence, p = {self.p_value:.3g}).")
        return (f"No clear winner: {better} did better on average ({self.difference:+.3%} per period), but the "
                f"{level} interval [{self.ci_low:+.3%}, {self.ci_high:+.3%}] includes zero (p = {self.p_value:.3g}).")

    def to_dict(self) -> dict[str, float | int | bool | str]:
        return {
            "mean_a": self.mean_a, "mean_b": self.mean_b, "difference": self.difference,
            "t_statistic": self.t_statistic, "p_value": self.p_value, "ci_low": self.ci_low,
            "ci_high": self.ci_high, "confidence": self.confidence, "paired": self.paired,
            "n_a": self.n_a, "n_b": self.n_b, "significant": self.significant, "verdict": self.verdict,
        }


def compare_returns(
    returns_a: pd.Series,
    returns_b: pd.Series,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> ABResult:
    """Compare per-period returns of variant A and variant B."""
    if not 0.5 < confidence < 1:
        raise InvalidInput("confidence must be between 0.5 and 1, e.g. 0.95.")
    a, b = returns_a.dropna().astype("float64"), returns_b.dropna().astype("float64")
    paired = a.index.equals(b.index)
    if min(len(a), len(b)) < 3:
        raise InvalidInput("Each variant needs at least 3 returns to compare.")
    rng = np.random.default_rng(seed)
    if paired:
        delta = (b - a).to_numpy()
        test = stats.ttest_1samp(delta, 0.0)
        interval = stats.bootstrap((delta,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                                   method="BCa", rng=rng).confidence_interval
    else:
        test = stats.ttest_ind(b.to_numpy(), a.to_numpy(), equal_var=False)
        interval = stats.bootstrap((b.to_numpy(), a.to_numpy()), lambda x, y: np.mean(x) - np.mean(y),
                                   confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                                   rng=rng).confidence_interval
    return ABResult(
        mean_a=float(a.mean()), mean_b=float(b.mean()), difference=float(b.mean() - a.mean()),
        t_statistic=float(test.statistic), p_value=float(test.pvalue),
        ci_low=float(interval.low), ci_high=float(interval.high), confidence=confidence,
        paired=paired, n_a=len(a), n_b=len(b),
    )
