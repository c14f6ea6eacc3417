"""Headline scores: VADER (offline, its lexicon ships with the package) in [-1, 1] with its ±0.05 neutral band, a
symbol's mean and counts, and FinBERT said to be unavailable, with the reason, when it cannot be loaded here.

alphabook does not depend on ``transformers``: the project's environment does not install it, so the reason given
for a configured model folder is the missing package.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alphabook.research.sentiment import VaderScorer, choose_scorer, label_of, summarise


@pytest.fixture(scope="module")
def vader() -> VaderScorer:
    return VaderScorer()


def test_vader_scores_clear_headlines_by_their_tone(vader: VaderScorer) -> None:
    good, bad, flat = vader.score(["Bitcoin rallies to a record as investors cheer a great win",
                                   "Exchange hack: traders panic as losses mount in terrible crash",
                                   "The central bank publishes its minutes on Tuesday"])
    assert good.label == "positive" and good.compound > 0.5
    assert bad.label == "negative" and bad.compound < -0.5
    assert flat.label == "neutral" and flat.compound == 0.0
    assert vader.score([]) == []


@pytest.mark.parametrize(("compound", "label"), [(0.05, "positive"), (0.0499, "neutral"), (-0.0499, "neutral"),
                                                 (-0.05, "negative"), (1.0, "positive"), (-1.0, "negative")])
def test_labels_follow_vaders_neutral_band(compound: float, label: str) -> None:
    assert label_of(compound) == label


def test_a_symbols_summary_is_the_mean_and_the_counts() -> None:
    summary = summarise([0.8, -0.4, 0.0, 0.2])  # mean 0.6 / 4 = 0.15
    assert summary.score == pytest.approx(0.15)
    assert (summary.label, summary.positive, summary.negative, summary.neutral, summary.count) == (
        "positive", 2, 1, 1, 4)
    empty = summarise([])
    assert (empty.score, empty.label, empty.count) == (None, "no news", 0)


def test_without_a_configured_model_vader_scores_and_finbert_says_why() -> None:
    choice = choose_scorer(None)
    assert choice.scorer.name == "vader"
    assert choice.finbert == ("FinBERT unavailable: no local model configured (set ALPHABOOK_SENTIMENT_FINBERT_PATH "
                              "to a saved FinBERT folder)")


def test_a_configured_model_without_transformers_falls_back_to_vader_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    choice = choose_scorer(tmp_path)
    assert choice.scorer.name == "vader"
    assert choice.finbert == ("FinBERT unavailable: the 'transformers' package is not installed "
                              "(pip install transformers torch)")
