"""jupyter-ai in a person's JupyterLab: the chat panel of a real Jupyter server (jupyter-ai's websocket, its
default model set to alphabook by the venv's server config), and the ``%%ai`` magic in the real research kernel
(bubblewrap, network allowed), both reach the API's OpenAI-compatible endpoint with the person's own credentials
and answer with the person's provider (the local fake LLM), or the offline assistant without one."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.sandbox.kernelspecs import RESEARCH_KERNEL
from tests.fakes.fake_llm import KEY, FakeLLM, fake_llm
from tests.integration.jupyter_server import JupyterServer, jupyter_server
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


def _chat(server: JupyterServer, prompt: str) -> str:
    """Send ``prompt`` from jupyter-ai's chat panel and read the answer streamed back to it."""
    address = server.url.replace("http://", "ws://") + f"/api/ai/chats?token={server.token}"
    with connect(address, open_timeout=30) as panel:
        panel.send(json.dumps({"prompt": prompt}))
        asked, stream, answer = None, None, ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            message = json.loads(panel.recv(timeout=120))
            if message["type"] == "human" and message["prompt"] == prompt:
                asked = message["id"]
            elif message["type"] == "agent-stream" and asked and message["reply_to"] == asked:
                stream = message["id"]
            elif message["type"] == "agent-stream-chunk" and message["id"] == stream:
                answer += message["content"]
                if message["stream_complete"]:
                    return answer
            elif message["type"] == "agent" and asked and message.get("reply_to") == asked:
                return str(message["body"])
    raise AssertionError(f"no answer to {prompt!r} within 120 s")


def test_the_jupyterlab_chat_answers_through_the_persons_providers(database: Database, api: LiveApi, fake: FakeLLM,
                                                                   tmp_path: Path) -> None:
    headers = key_for(database, f"chat{tmp_path.name[-6:].replace('_', '')}")
    reply = httpx.put(f"{api.url}/ai/providers/mine", headers=headers, json={
        "kind": "openai", "model": "gpt-4o-mini", "base_url": f"{fake.url}/v1", "api_key": KEY})
    assert reply.status_code == 200, reply.text
    fake.replies.append("RSI compares recent gains with recent losses, on a scale from 0 to 100.")
    root = tmp_path / "home"
    root.mkdir()
    env = {**os.environ, "ALPHABOOK_API_URL": api.url, "ALPHABOOK_API_KEY": headers["Authorization"][7:],
           "HOME": str(tmp_path), "JUPYTER_DATA_DIR": str(tmp_path / "jupyter-data")}
    with jupyter_server(root, env, tmp_path / "server.log") as server:
        config = httpx.get(f"{server.url}/api/ai/config", headers=server.headers, timeout=30).json()
        assert config["model_provider_id"] == "alphabook:alphabook"  # no setup: the venv's server config says so
        answer = _chat(server, "What is RSI?")
    assert "RSI compares recent gains with recent losses" in answer
    sent = fake.calls("/v1/chat/completions")[-1].body
    assert sent["model"] == "gpt-4o-mini" and "What is RSI?" in str(sent["messages"])
