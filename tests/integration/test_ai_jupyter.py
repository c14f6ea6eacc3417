"""jupyter-ai in a person's notebook: the ``%%ai`` magic of jupyter-ai-magics, in the real research kernel
(bubblewrap, network allowed), reaches the API's OpenAI-compatible endpoint with the kernel's own credentials
and answers with the person's provider (the local fake LLM), or the offline assistant without one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.sandbox.kernelspecs import RESEARCH_KERNEL
from tests.fakes.fake_llm import KEY, FakeLLM, fake_llm
from tests.integration.live_api import LiveApi, live_api
from tests.integration.market import key_for
from tests.sandbox.test_kernels import running_kernel


@pytest.fixture
def api(database: Database, tmp_path: Path) -> Iterator[LiveApi]:
    with live_api(Settings(home=tmp_path, database_url=database.url, ai_custom_endpoints=True)) as running:
        yield running


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with fake_llm() as running:
        yield running


def test_the_ai_magic_answers_through_the_persons_providers(database: Database, api: LiveApi, fake: FakeLLM,
                                                            tmp_path: Path) -> None:
    headers = key_for(database, f"lab{tmp_path.name[-6:].replace('_', '')}")
    environment = {"ALPHABOOK_API_URL": api.url, "ALPHABOOK_API_KEY": headers["Authorization"][7:]}
    with running_kernel(RESEARCH_KERNEL, env=environment) as kernel:
        loaded = kernel.run("%load_ext jupyter_ai_magics")
        assert loaded.error is None, loaded.text
        offline = kernel.run("%%ai alphabook:alphabook --format text\nbuy BTC when RSI < 30", timeout=120)
        assert offline.error is None and 'compute("rsi", df, timeperiod=14)' in offline.text, offline

        reply = httpx.put(f"{api.url}/ai/providers/mine", headers=headers, json={
            "kind": "openai", "model": "gpt-4o-mini", "base_url": f"{fake.url}/v1", "api_key": KEY})
        assert reply.status_code == 200, reply.text
        fake.replies.append("RSI measures the speed of price moves, from 0 to 100.")
        answered = kernel.run("%%ai alphabook:mine --format text\nWhat is RSI?", timeout=120)
        assert answered.error is None and "RSI measures the speed of price moves" in answered.text, answered
    sent = fake.calls("/v1/chat/completions")[-1].body
    assert sent["model"] == "gpt-4o-mini" and "What is RSI?" in str(sent["messages"])
