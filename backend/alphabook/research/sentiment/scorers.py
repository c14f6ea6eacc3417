"""The ``Scorer`` plug-in point: how positive or negative a headline reads, as one number in [-1, 1].

Two real implementations:

- :class:`VaderScorer`: VADER (``vaderSentiment``), a lexicon and rules tuned for short social-media text. The
  package ships its lexicon, so it works offline on any machine; its ``compound`` score is the number.
- :class:`FinbertScorer`: FinBERT, a BERT model fine-tuned on financial news, run with ``transformers``'
  text-classification pipeline. It is loaded only from a folder on this machine (``local_files_only=True``):
  nothing is downloaded at run time, and neither ``transformers`` nor ``torch`` is a dependency of alphabook.
  Its number is P(positive) - P(negative).

:func:`choose_scorer` picks FinBERT when a local model loads and VADER otherwise, and says why in plain words, so
the API can show which scorer produced a number and why FinBERT was not it.
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

__all__ = ["FinbertScorer", "Score", "Scorer", "ScorerChoice", "VaderScorer", "choose_scorer", "finbert_unavailable",
           "label_of"]

Label = Literal["positive", "negative", "neutral"]
#: VADER's documented thresholds for calling a compound score positive or negative; used for every scorer.
NEUTRAL_BAND = 0.05


@dataclass(frozen=True, slots=True)
class Score:
    compound: float  # -1 (most negative) .. 1 (most positive)
    label: Label


def label_of(compound: float) -> Label:
    """positive above +0.05, negative below -0.05, neutral between (VADER's convention)."""
    if compound >= NEUTRAL_BAND:
        return "positive"
    if compound <= -NEUTRAL_BAND:
        return "negative"
    return "neutral"


class Scorer(ABC):
    """Scores texts; ``name`` is what the API reports as the scorer used."""

    name: ClassVar[str]

    @abstractmethod
    def score(self, texts: Sequence[str]) -> list[Score]:
        """One :class:`Score` per text, in order. Pure: no state changes; raises nothing for odd text."""


class VaderScorer(Scorer):
    """VADER's compound score (see the module docstring); the analyser is built once per scorer."""

    name = "vader"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()

    def score(self, texts: Sequence[str]) -> list[Score]:
        compounds = [float(self._analyzer.polarity_scores(text)["compound"]) for text in texts]
        return [Score(compound, label_of(compound)) for compound in compounds]


class FinbertScorer(Scorer):
    """FinBERT from a local folder holding a saved model and tokenizer (``save_pretrained``'s layout).

    Raises ImportError when ``transformers`` is not installed and OSError/ValueError when the folder holds no
    usable model: :func:`choose_scorer` turns those into the reason FinBERT is unavailable.
    """

    name = "finbert"

    def __init__(self, model_path: Path) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

        tokenizer = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(str(model_path), local_files_only=True)
        self._classify: Any = pipeline("text-classification", model=model, tokenizer=tokenizer, top_k=None)

    def score(self, texts: Sequence[str]) -> list[Score]:
        if not texts:
            return []
        answers = self._classify(list(texts), truncation=True)
        scores = []
        for answer in answers:
            probability = {str(each["label"]).lower(): float(each["score"]) for each in answer}
            compound = probability.get("positive", 0.0) - probability.get("negative", 0.0)
            scores.append(Score(compound, label_of(compound)))
        return scores


@dataclass(frozen=True, slots=True)
class ScorerChoice:
    scorer: Scorer
    finbert: str  # "FinBERT loaded from …" or "FinBERT unavailable: <why>"


def finbert_unavailable(finbert_path: Path | None) -> str | None:
    """Why FinBERT cannot be loaded from ``finbert_path``, found without loading it; None when it looks loadable."""
    if finbert_path is None:
        return "no local model configured (set ALPHABOOK_SENTIMENT_FINBERT_PATH to a saved FinBERT folder)"
    if importlib.util.find_spec("transformers") is None:
        return "the 'transformers' package is not installed (pip install transformers torch)"
    if not (finbert_path / "config.json").is_file():
        return f"no saved model at {finbert_path} (expected config.json and weights from save_pretrained)"
    return None


def choose_scorer(finbert_path: Path | None) -> ScorerChoice:
    """FinBERT from ``finbert_path`` when it loads there, else VADER; ``finbert`` says which and why."""
    why = finbert_unavailable(finbert_path)
    if why is None and finbert_path is not None:
        try:
            return ScorerChoice(FinbertScorer(finbert_path), f"FinBERT loaded from {finbert_path}")
        except (ImportError, OSError, ValueError) as error:
            why = f"the model at {finbert_path} did not load: {error}"
    return ScorerChoice(VaderScorer(), f"FinBERT unavailable: {why}")
