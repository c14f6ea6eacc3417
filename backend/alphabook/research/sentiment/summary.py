"""A symbol's sentiment from its headlines' scores: the mean compound score and how many lean each way.

The mean is plain arithmetic over the scores given (the caller chooses which headlines count, e.g. the latest
50), so one very emotional headline weighs no more than one calm one beyond its own score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alphabook.research.sentiment.scorers import label_of

__all__ = ["SentimentSummary", "summarise"]


@dataclass(frozen=True, slots=True)
class SentimentSummary:
    score: float | None  # mean compound score in [-1, 1]; None without headlines
    label: str  # positive / negative / neutral, or "no news"
    positive: int
    negative: int
    neutral: int

    @property
    def count(self) -> int:
        return self.positive + self.negative + self.neutral


def summarise(compounds: Sequence[float]) -> SentimentSummary:
    """The summary of ``compounds`` (each in [-1, 1])."""
    labels = [label_of(value) for value in compounds]
    score = sum(compounds) / len(compounds) if compounds else None
    return SentimentSummary(score=score, label=label_of(score) if score is not None else "no news",
                            positive=labels.count("positive"), negative=labels.count("negative"),
                            neutral=labels.count("neutral"))
