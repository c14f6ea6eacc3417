"""The offline assistant's reading of trading sentences, the code it writes (checked by the sandbox policy),
what managed calls cost, and how retries wait."""

from __future__ import annotations

import pytest

from alphabook.ai.base import Completion, ProviderBusy, ProviderRateLimited, ProviderRejected, with_retries
from alphabook.ai.metering import price_of
from alphabook.ai.pipeline import extract_code
from alphabook.ai.sentences import parse_rules, write_code
from alphabook.core.config import Settings
from alphabook.core.errors import InvalidInput
from alphabook.core.money import Money
from alphabook.sandbox.policy import validate_source


@pytest.mark.parametrize(("sentence", "reading", "asset"), [
    ("buy BTC when RSI < 30 and MACD crosses above its signal",
     "Buy when RSI(14) < 30 and MACD crosses above MACD signal. Sell when RSI(14) > 70 or MACD crosses below MACD "
     "signal (no sell rule was given, so the entry's mirror image).", "BTC"),
    ("Buy GOOG when the 20 EMA crosses above the 50-day SMA or RSI(7) is below 25, and sell when RSI is above 70.",
     "Buy when EMA(20) crosses above SMA(50) or RSI(7) < 25. Sell when RSI(14) > 70.", "GOOG"),
    ("go long ethereum if price crosses below the lower Bollinger band; exit when close rises above the middle band",
     "Buy when close crosses below lower Bollinger band. Sell when close crosses above middle Bollinger band.",
     "ETH"),
    ("buy when the close is greater than sma(200) and the macd histogram > 0",
     "Buy when close > SMA(200) and MACD histogram > 0. Sell when close < SMA(200) or MACD histogram < 0 (no sell "
     "rule was given, so the entry's mirror image).", None),
])
def test_sentences_are_read_into_rules(sentence: str, reading: str, asset: str | None) -> None:
    rules = parse_rules(sentence)
    assert rules.describe() == reading and rules.asset == asset


@pytest.mark.parametrize("sentence", [
    "buy BTC when RSI < 30 and MACD crosses above its signal",
    "buy when ema 12 crosses over ema 26 or close < lower bollinger band; sell when rsi(2) > 90",
    'buy "quoted" \\ when rsi < 30',
])
def test_the_written_code_passes_the_sandbox_policy(sentence: str) -> None:
    code = write_code(parse_rules(sentence), sentence)
    compiled = validate_source(code)
    assert [param.name for param in compiled.params] == []
    assert 'return {"entries": entries, "exits": exits}' in code


@pytest.mark.parametrize(("sentence", "message"), [
    ("what is the weather", "Say when to buy"),
    ("sell when RSI > 70", "not when to buy"),
    ("buy when", "say what must happen"),
    ("buy when the moon is full", "not a condition I understand"),
    ("buy when sentiment > 3", "not something I can compute"),
    ("buy when RSI crosses above its signal", "MACD's signal line"),
])
def test_what_is_not_understood_is_said(sentence: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_rules(sentence)


def test_code_is_taken_from_the_first_fenced_block() -> None:
    assert extract_code("Sure.\n```python\ndef indicator(df):\n    return df\n```\nDone.") == (
        "def indicator(df):\n    return df\n", "Sure.\n\nDone.")
    assert extract_code("def indicator(df):\n    return df") == ("def indicator(df):\n    return df\n", "")
    assert extract_code("I cannot help with that.") == ("", "I cannot help with that.")


def test_prices_round_up_to_a_whole_cent_and_carry_the_markup() -> None:
    settings = Settings(ai_markup_bp=3000, ai_model_prices={"gpt-4o": [250, 1000], "gpt-4o-mini": [15, 60],
                                                            "default": [300, 1500]})
    mini = price_of(Completion("x", 1_000_000, 1_000_000, "gpt-4o-mini-2024-07-18"), settings)
    assert mini.cost == Money(75, "USD") and mini.charge == Money(98, "USD")  # 97.5 rounded up
    tiny = price_of(Completion("x", 10, 10, "gpt-4o"), settings)
    assert tiny.cost == Money(1, "USD") and tiny.charge == Money(1, "USD")
    other = price_of(Completion("x", 2_000_000, 0, "mystery"), settings)
    assert other.cost == Money(600, "USD") and other.charge == Money(780, "USD")


def test_retries_wait_for_busy_and_rate_limited_providers_only() -> None:
    answers: list[Exception | str] = [ProviderBusy("down"), ProviderRateLimited("slow", 3.0), "done"]
    waits: list[float] = []

    def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert with_retries(call, 3, 30, sleep=waits.append) == "done" and waits == [0.5, 3.0]
    answers[:] = [ProviderRejected("bad key")]
    with pytest.raises(ProviderRejected):
        with_retries(call, 3, 30, sleep=waits.append)
    assert waits == [0.5, 3.0]
