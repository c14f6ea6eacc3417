"""The LLMProvider contract, run against every implementation: the three SDK-backed protocols talk to the
local fake in each provider's wire format (answers, bad keys, 5xx, 429 with Retry-After), the offline one
needs nothing. Retries are driven through ``with_retries`` with a recording ``sleep``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from alphabook.ai.base import LLMProvider, Message, ProviderBusy, ProviderRateLimited, ProviderRejected, with_retries
from alphabook.ai.providers import build_provider
from tests.fakes.fake_llm import KEY, STRATEGY_ANSWER, FakeLLM, fake_llm, rate_limited, server_error


@dataclass(frozen=True)
class Wire:
    kind: str
    protocol: str
    path: str  # the path the SDK calls on the fake
    suffix: str  # what the SDK's base_url needs after the fake's root


WIRES = [Wire("openai", "openai", "/v1/chat/completions", "/v1"),
         Wire("deepseek", "openai", "/v1/chat/completions", "/v1"),
         Wire("anthropic", "anthropic", "/v1/messages", ""),
         Wire("gemini", "gemini", "/v1/models/", "")]
MESSAGES = [Message("system", "You write strategies."), Message("user", "buy when RSI < 30")]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLM]:
    with fake_llm() as running:
        yield running


def _never(seconds: float) -> None:
    pytest.fail(f"waited {seconds} s for an error that retrying cannot fix")


def _provider(fake: FakeLLM, wire: Wire, key: str = KEY) -> LLMProvider:
    return build_provider(wire.kind, key, fake.url + wire.suffix, timeout_s=10)


@pytest.mark.parametrize("wire", WIRES, ids=lambda wire: wire.kind)
def test_answer_and_token_counts_come_back_in_every_protocol(fake: FakeLLM, wire: Wire) -> None:
    fake.replies.append("```python\ndef indicator(df):\n    return df.close\n```")
    provider = _provider(fake, wire)
    completion = provider.complete(MESSAGES, provider.capabilities.default_model, 256)
    assert completion.text.startswith("```python\ndef indicator(df)")
    assert completion.input_tokens > 0 and completion.output_tokens == len(completion.text) // 4
    assert completion.model.startswith(provider.capabilities.default_model)
    sent = fake.calls(wire.path)[-1]
    assert "You write strategies." in str(sent.body) and "buy when RSI < 30" in str(sent.body)


@pytest.mark.parametrize("wire", WIRES, ids=lambda wire: wire.kind)
def test_a_wrong_key_is_rejected_not_retried(fake: FakeLLM, wire: Wire) -> None:
    provider = _provider(fake, wire, key="sk-wrong")
    before = len(fake.calls(wire.path))
    with pytest.raises(ProviderRejected, match=r"answered (401|400)"):
        with_retries(lambda: provider.complete(MESSAGES, "some-model", 64), 3, 30, sleep=_never)
    assert len(fake.calls(wire.path)) == before + 1


@pytest.mark.parametrize("wire", WIRES, ids=lambda wire: wire.kind)
def test_429_waits_the_retry_after_then_succeeds(fake: FakeLLM, wire: Wire) -> None:
    fake.fail(wire.path, rate_limited(wire.protocol, retry_after_s=7))
    provider, waits = _provider(fake, wire), list[float]()
    completion = with_retries(lambda: provider.complete(MESSAGES, "m-1", 64), 3, 30, sleep=waits.append)
    assert waits == [7.0] and completion.text == STRATEGY_ANSWER


@pytest.mark.parametrize("wire", WIRES, ids=lambda wire: wire.kind)
def test_5xx_is_busy_and_gives_up_after_the_attempts(fake: FakeLLM, wire: Wire) -> None:
    fake.fail(wire.path, server_error(wire.protocol, 503), times=3)
    provider, waits = _provider(fake, wire), list[float]()
    with pytest.raises(ProviderBusy, match="answered 503") as raised:
        with_retries(lambda: provider.complete(MESSAGES, "m-1", 64), 3, 30, sleep=waits.append)
    assert not isinstance(raised.value, ProviderRateLimited) and waits == [0.5, 1.0]


@pytest.mark.parametrize("wire", WIRES, ids=lambda wire: wire.kind)
def test_a_retry_after_longer_than_allowed_is_not_waited(fake: FakeLLM, wire: Wire) -> None:
    fake.fail(wire.path, rate_limited(wire.protocol, retry_after_s=120))
    provider = _provider(fake, wire)
    with pytest.raises(ProviderRateLimited) as raised:
        with_retries(lambda: provider.complete(MESSAGES, "m-1", 64), 3, 30, sleep=_never)
    assert raised.value.retry_after_s == 120


def test_an_unreachable_provider_is_busy() -> None:
    from tests.ports import free_port

    provider = build_provider("openai", KEY, f"http://127.0.0.1:{free_port()}/v1", timeout_s=5)
    with pytest.raises(ProviderBusy, match="could not be reached"):
        provider.complete(MESSAGES, "gpt-4o-mini", 64)


def test_the_offline_provider_needs_no_key_and_answers_with_code() -> None:
    provider = build_provider("rules")
    assert provider.capabilities.offline and not provider.capabilities.needs_key
    completion = provider.complete([Message("user", "buy BTC when RSI < 30 and MACD crosses above its signal")],
                                   provider.capabilities.default_model, 256)
    assert "```python" in completion.text and 'compute("rsi", df, timeperiod=14)' in completion.text
    chat = provider.complete([Message("user", "what is the weather?")], "x", 64)
    assert "only turn trading rules into strategies" in chat.text and "```" not in chat.text
