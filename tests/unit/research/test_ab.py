"""A/B comparison of strategy variants: paired when aligned, a bootstrap interval, a plain verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alphabook.core.errors import InvalidInput
from alphabook.research.optimize.ab import compare_returns

INDEX = pd.date_range("2024-01-01", periods=400, freq="D", tz="UTC")


def _returns(seed: int, mean: float, scale: float = 0.01, index: pd.Index = INDEX) -> pd.Series:
    return pd.Series(np.random.default_rng(seed).normal(mean, scale, len(index)), index=index)


def test_a_real_edge_is_found_with_a_paired_test() -> None:
    a = _returns(1, 0.0)
    b = a + _returns(2, 0.001, 0.002)
    result = compare_returns(a, b)
    assert result.paired and result.significant
    assert 0 < result.ci_low < result.difference < result.ci_high
    assert result.verdict.startswith("B beats A")
    assert result.difference == pytest.approx(b.mean() - a.mean())


def test_noise_gives_no_clear_winner() -> None:
    a = _returns(3, 0.0)
    result = compare_returns(a, a + _returns(4, 0.0, 0.002))
    assert not result.significant and result.ci_low < 0 < result.ci_high
    assert result.verdict.startswith("No clear winner")


def test_unaligned_variants_use_welch() -> None:
    other = pd.date_range("2023-01-01", periods=300, freq="D", tz="UTC")
    result = compare_returns(_returns(5, 0.0), _returns(6, 0.004, index=other))
    assert not result.paired and result.significant and result.to_dict()["significant"] is True
    assert (result.n_a, result.n_b) == (400, 300)


def test_bad_input() -> None:
    with pytest.raises(InvalidInput):
        compare_returns(_returns(1, 0.0), _returns(2, 0.0), confidence=1.5)
    with pytest.raises(InvalidInput):
        compare_returns(_returns(1, 0.0)[:2], _returns(2, 0.0)[:2])
