"""The assistant end to end over HTTP, on every database backend: a person's sentence becomes code from their
provider (the local fake LLM, or the offline parser without keys), the code is validated and run in the real
sandbox, backtested on offline bars and charted; keys stay secret, managed calls are charged to credits in
the ledger, limits hold, and OpenAI clients (what jupyter-ai uses) reach the same providers at /api/ai/v1."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

import alphabook as ab
from alphabook.core import audit
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.sdk import client as sdk_client
from tests.fakes.fake_llm import KEY, FakeLLM, fake_llm, server_error
from tests.integration.live_api import LiveApi, live_api
from tests.integration.market import key_for
from tests.unit.research.conftest import SHARED_DATA

EXAMPLE = "buy BTC when RSI < 30 and MACD crosses above its signal"


@dataclass
class Person:
    api: LiveApi
    headers: dict[str, str]
    name: str

    def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        reply = httpx.request(method, f"{self.api.url}{path}", json=body, headers=self.headers, timeout=120)
        assert reply.status_code == status, reply.text
        return reply.json() if reply.content else None


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with fake_llm() as running:
        yield running


def _settings(database: Database, tmp_path: Path, fake: FakeLLM, **extra: Any) -> Settings:
    return Settings(home=tmp_path, database_url=database.url, ai_custom_endpoints=True,
                    ai_market_data_dir=SHARED_DATA, **extra)


@pytest.fixture
def person(database: Database, tmp_path: Path, fake: FakeLLM) -> Iterator[Person]:
    name = f"quant{tmp_path.name[-6:].replace('_', '')}"
    with live_api(_settings(database, tmp_path, fake)) as api:
        yield Person(api, key_for(database, name), name)


def _use_fake(person: Person, fake: FakeLLM, name: str = "mine", kind: str = "openai", priority: int = 0) -> Any:
    suffix = "/v1" if kind in {"openai", "deepseek"} else ""
    return person.call("PUT", f"/ai/providers/{name}", {"kind": kind, "model": "gpt-4o-mini", "priority": priority,
                                                        "base_url": fake.url + suffix, "api_key": KEY})


def test_without_keys_the_offline_assistant_turns_the_example_into_a_backtested_strategy(person: Person) -> None:
    result = person.call("POST", "/ai/strategy", {"sentence": EXAMPLE})
    assert result["ok"] and result["error"] is None and result["provider"] == "offline"
    assert 'compute("rsi", df, timeperiod=14)' in result["code"] and "macdsignal" in result["code"]
    assert [(step["name"], step["ok"]) for step in result["steps"]] == [
        ("validation", True), ("sandbox run", True), ("backtest", True)]
    assert result["dataset"] == {"symbol": "BINANCE:BTC/USDT", "timeframe": "5m", "bars": 20_000}
    assert result["backtest"]["entries"] > 0 and result["backtest"]["num_trades"] > 0
    assert {trace["name"] for trace in result["chart"]["data"]} >= {"equity", "drawdown", "long entry"}
    assert "RSI(14) > 70" in result["explanation"] and result["charge"] is None
    usage = person.call("GET", "/ai/usage")
    assert [(row["provider"], row["purpose"], row["managed"]) for row in usage] == [("offline", "strategy", False)]


def test_the_person_may_name_the_bars(person: Person) -> None:
    result = person.call("POST", "/ai/strategy", {"sentence": "buy when the 20 EMA crosses above the 50 SMA",
                                                  "symbol": "nasdaq:goog", "timeframe": "1d"})
    assert result["ok"] and result["dataset"] == {"symbol": "NASDAQ:GOOG", "timeframe": "1d", "bars": 2148}
    assert result["backtest"]["num_trades"] > 10 and "EMA(20) crosses below SMA(50)" in result["explanation"]
    problem = person.call("POST", "/ai/strategy", {"sentence": EXAMPLE, "symbol": "KRAKEN:DOGE/EUR"}, status=422)
    assert "has no KRAKEN:DOGE/EUR" in problem["detail"]


def test_the_persons_provider_writes_the_code_and_its_key_is_never_shown(person: Person, fake: FakeLLM) -> None:
    saved = _use_fake(person, fake)
    assert saved["has_key"] and saved["key_last4"] == KEY[-4:] and "api_key" not in saved
    listed = person.call("GET", "/ai/providers")
    assert KEY not in str(listed) and listed[0]["name"] == "mine"

    result = person.call("POST", "/ai/strategy", {"sentence": EXAMPLE})
    assert result["ok"] and result["provider"] == "mine" and result["model"] == "gpt-4o-mini"
    assert "crossed_up = above & ~above.shift(1, fill_value=True)" in result["code"]
    assert result["explanation"].startswith("Here is the strategy.") and result["backtest"]["num_trades"] > 0
    sent = fake.calls("/v1/chat/completions")[-1].body
    assert sent["messages"][0]["role"] == "system" and "indicator(df)" in sent["messages"][0]["content"]
    assert sent["messages"][1] == {"role": "user", "content": EXAMPLE}


def test_nothing_waits_for_the_model_to_answer(person: Person, fake: FakeLLM) -> None:
    """While the model thinks, the person's other writes go through: on SQLite a transaction held across the call
    would keep the one write lock, and every writer of the installation (webhook alerts too) would wait for it."""
    _use_fake(person, fake)
    fake.answering.clear()
    try:
        with ThreadPoolExecutor(1) as background:
            asked = background.submit(person.call, "POST", "/ai/strategy", {"sentence": EXAMPLE})
            deadline = time.monotonic() + 60
            while not fake.calls("/v1/chat/completions") and not asked.done() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert fake.calls("/v1/chat/completions"), "the strategy request never reached the model"
            _use_fake(person, fake, name="second", priority=1)
            saved_while_thinking = not asked.done()
            fake.answering.set()
            result = asked.result()
    finally:
        fake.answering.set()
    assert saved_while_thinking and result["ok"] and result["provider"] == "mine"
    assert [provider["name"] for provider in person.call("GET", "/ai/providers")] == ["mine", "second"]


def test_code_failing_validation_goes_back_once_for_a_fix(person: Person, fake: FakeLLM) -> None:
    _use_fake(person, fake)
    fake.replies += ["```python\nimport os\n\ndef indicator(df):\n    return os.environ\n```"]
    fixed = person.call("POST", "/ai/strategy", {"sentence": EXAMPLE})
    assert fixed["ok"] and fixed["attempts"] == 2
    retry = fake.calls("/v1/chat/completions")[-1].body["messages"]
    assert retry[2]["role"] == "assistant" and "import os" in retry[2]["content"]
    assert retry[3]["content"].startswith("That code failed validation:") and "os" in retry[3]["content"]

    fake.replies += ["```python\ndef indicator(df):\n    return df['close'] * 2\n```"] * 2
    failed = person.call("POST", "/ai/strategy", {"sentence": EXAMPLE})
    assert not failed["ok"] and failed["attempts"] == 2 and failed["backtest"] is None and failed["chart"] is None
    assert "failed sandbox run twice" in failed["error"] and "'entries' and 'exits'" in failed["error"]

    fake.replies += ["I only discuss the weather."]
    refused = person.call("POST", "/ai/strategy", {"sentence": EXAMPLE})
    assert not refused["ok"] and refused["attempts"] == 1 and refused["code"] == ""
    assert refused["error"] == "The model answered without code: I only discuss the weather."


def test_a_sentence_the_offline_assistant_does_not_understand_gets_its_reason(person: Person) -> None:
    result = person.call("POST", "/ai/strategy", {"sentence": "buy BTC when the moon is full"})
    assert not result["ok"] and result["provider"] == "offline" and result["attempts"] == 1
    assert "'the moon is full' is not a condition I understand" in result["error"]


def test_a_busy_provider_falls_back_and_says_so(person: Person, fake: FakeLLM) -> None:
    _use_fake(person, fake)
    fake.fail("/v1/chat/completions", server_error("openai", 502), times=3)
    result = person.call("POST", "/ai/strategy", {"sentence": EXAMPLE})
    assert result["ok"] and result["provider"] == "offline"
    assert result["skipped"] == ["mine: openai answered 502: The server had an error"]


def test_a_bad_key_is_the_persons_to_fix(person: Person, fake: FakeLLM) -> None:
    person.call("PUT", "/ai/providers/claude", {"kind": "anthropic", "base_url": fake.url, "api_key": "sk-nope"})
    problem = person.call("POST", "/ai/strategy", {"sentence": EXAMPLE}, status=502)
    assert "anthropic answered 401" in problem["detail"]
    person.call("DELETE", "/ai/providers/claude", status=204)
    assert person.call("GET", "/ai/providers") == []


def test_managed_calls_are_charged_to_credits_in_the_ledger(database: Database, tmp_path: Path,
                                                           fake: FakeLLM) -> None:
    settings = _settings(database, tmp_path, fake, ai_managed_provider="gemini", ai_managed_api_key=KEY,
                         ai_managed_base_url=fake.url, ai_markup_bp=5000, ai_spend_per_day_minor=2,
                         ai_model_prices={"gemini-2.0-flash": [10_000, 40_000]})
    suffix = tmp_path.name[-6:].replace("_", "")
    with live_api(settings) as api:
        person = Person(api, key_for(database, f"payer{suffix}"), f"payer{suffix}")
        admin = Person(api, key_for(database, f"boss{suffix}", ["user", "admin"]), f"boss{suffix}")
        problem = person.call("POST", "/ai/strategy", {"sentence": EXAMPLE}, status=409)
        assert "no AI credits left" in problem["detail"] and not fake.calls("/v1/models/")
        person.call("POST", "/ai/credits/grants", {"user": person.name, "amount": {"amount_minor": 500},
                                                   "reason": "welcome"}, status=403)
        granted = admin.call("POST", "/ai/credits/grants", {"user": person.name, "amount": {"amount_minor": 500},
                                                            "reason": "welcome"}, status=201)
        assert granted["amount_minor"] == 500

        result = person.call("POST", "/ai/strategy", {"sentence": EXAMPLE})
        assert result["ok"] and result["provider"] == "managed" and result["model"] == "gemini-2.0-flash"
        usage = person.call("GET", "/ai/usage")[0]
        exact = usage["input_tokens"] * 10_000 + usage["output_tokens"] * 40_000
        charge = -(-exact * 15_000 // (1_000_000 * 10_000))
        assert usage["managed"] and usage["charge_minor"] == charge == result["charge"]["amount_minor"] > 0
        assert person.call("GET", "/ai/credits")["amount_minor"] == 500 - charge
        with database.session() as session:
            debits = audit.entries(session, action="ai.credits.debited", actor=person.name)
            assert [entry.data["charge_minor"] for entry in debits] == [charge]
            from alphabook.payments.ledger import balance

            cost = balance(session, "ai-provider-costs", "USD").amount_minor
            assert cost == -(-exact // 1_000_000) and cost < charge

        limited = person.call("POST", "/ai/strategy", {"sentence": EXAMPLE}, status=429)
        assert "daily limit is 2" in limited["detail"]


def test_requests_per_minute_are_limited(database: Database, tmp_path: Path, fake: FakeLLM) -> None:
    with live_api(_settings(database, tmp_path, fake, ai_requests_per_minute=2)) as api:
        person = Person(api, key_for(database, f"busy{tmp_path.name[-6:].replace('_', '')}"), "busy")
        for _ in range(2):
            person.call("POST", "/ai/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]})
        reply = httpx.post(f"{api.url}/ai/v1/chat/completions", headers=person.headers,
                           json={"messages": [{"role": "user", "content": "hi"}]})
        assert reply.status_code == 429 and int(reply.headers["retry-after"]) >= 1


def test_openai_clients_reach_the_persons_providers(person: Person, fake: FakeLLM) -> None:
    """What jupyter-ai's OpenAI-compatible provider does: base URL = our API, the person's token as key."""
    _use_fake(person, fake)
    client = openai.OpenAI(base_url=f"{person.api.url}/ai/v1", api_key=person.headers["Authorization"][7:],
                           max_retries=0)
    assert [model.id for model in client.models.list()] == ["alphabook", "mine", "offline"]
    fake.replies.append("RSI is a momentum oscillator.")
    reply = client.chat.completions.create(model="alphabook", messages=[{"role": "user", "content": "what is RSI?"}])
    assert reply.choices[0].message.content == "RSI is a momentum oscillator." and reply.usage is not None
    stream = client.chat.completions.create(model="offline", stream=True,
                                            messages=[{"role": "user", "content": EXAMPLE}])
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text.startswith("```python\nfrom alphabook.research.indicators import compute")


def test_the_notebook_sdk_shows_code_report_and_chart(person: Person) -> None:
    ab.connect(person.api.url, api_key=person.headers["Authorization"][7:])
    try:
        made = ab.ai.strategy(EXAMPLE)
    finally:
        sdk_client._default = None
    assert made.ok and made.provider == "offline" and "def indicator(df)" in made.code
    assert made.chart is not None and len(made.chart.data) >= 3
    page = made._repr_html_()
    assert "✓ validation" in page and "num_trades" in page and "plotly" in page.lower()
    assert "num_trades=" in repr(made)
