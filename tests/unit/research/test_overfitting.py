"""Deflated Sharpe ratio: the paper's worked example, and how it reacts to more trials."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alphabook.core.errors import InvalidInput
from alphabook.research.optimize.overfitting import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
)


def test_bailey_lopez_de_prado_numerical_example() -> None:
    # Section 6 of the paper: annualised SR 2.5 and trial variance 0.5 over 5 years of daily returns
    # (T = 1250, 250 days a year), 100 trials, skewness -3, kurtosis 10: SR0 = 0.1132 and DSR = 0.9004.
    sharpe, variance = 2.5 / math.sqrt(250), 0.5 / 250
    benchmark = expected_max_sharpe(variance, 100)
    assert benchmark == pytest.approx(0.1132, abs=5e-5)
    assert probabilistic_sharpe_ratio(sharpe, benchmark, 1250, -3, 10) == pytest.approx(0.9004, abs=5e-5)


def test_psr_of_normal_returns_matches_the_closed_form() -> None:
    # With skew 0 and kurtosis 3 the PSR is Phi(SR * sqrt(T-1) / sqrt(1 + SR^2 / 2)).
    from scipy.stats import norm

    expected = norm.cdf(0.1 * math.sqrt(99) / math.sqrt(1 + 0.1**2 / 2))
    assert probabilistic_sharpe_ratio(0.1, 0.0, 100) == pytest.approx(expected, rel=1e-12)


def test_more_trials_deflate_more() -> None:
    returns = np.random.default_rng(7).normal(0.001, 0.01, 1000)
    trial_sharpes = np.random.default_rng(8).normal(0.0, 0.03, 50)
    probabilities = [deflated_sharpe_ratio(returns, n, trial_sharpes).probability for n in (1, 10, 100, 1000)]
    assert probabilities == sorted(probabilities, reverse=True)
    assert probabilities[0] > probabilities[-1] + 0.05
    single = deflated_sharpe_ratio(returns, 1)
    assert single.expected_max_sharpe == 0.0
    assert single.probability == pytest.approx(probabilistic_sharpe_ratio(single.sharpe, 0.0, 1000,
                                                                          single.skewness, single.kurtosis))


def test_verdicts_and_bad_input() -> None:
    strong = deflated_sharpe_ratio(np.random.default_rng(1).normal(0.01, 0.01, 500), 5)
    assert strong.probability > 0.95 and strong.verdict.startswith("likely real")
    noise = deflated_sharpe_ratio(np.random.default_rng(2).normal(0.0, 0.01, 500), 1000)
    assert noise.probability < 0.5 and noise.verdict.startswith("likely luck")
    with pytest.raises(InvalidInput):
        deflated_sharpe_ratio([0.01, 0.02], 3)
    with pytest.raises(InvalidInput):
        expected_max_sharpe(0.1, 0)
