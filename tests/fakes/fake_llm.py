"""A local stand-in for three LLM APIs, each in its real wire format, on one port.

* OpenAI chat completions (also DeepSeek's and Ollama's): ``POST /v1/chat/completions``, key in
  ``Authorization: Bearer``; errors ``{"error": {"message", "type", "code"}}``.
* Anthropic messages: ``POST /v1/messages``, key in ``x-api-key`` (or ``Authorization: Bearer``, which the
  SDK sends since 2.x), ``anthropic-version`` required; errors
  ``{"type": "error", "error": {"type", "message"}}``.
* Gemini ``POST /v1/models/<model>:generateContent`` (or ``/v1beta/``), key in ``x-goog-api-key``; errors
  ``{"error": {"code", "message", "status"}}``.

A wrong key is 401 (Gemini: 400 ``API_KEY_INVALID``, as Google answers). Answers come from ``replies`` (used up
in order) or else :data:`STRATEGY_ANSWER`, a model-written strategy for the example sentence. Token counts are
characters / 4. Clearing ``answering`` holds every answer (a model thinking) until it is set again. Failures are
injected per path with ``fail(path, failure)`` (shared with the venues' fakes);
:func:`rate_limited` and :func:`server_error` build them in each protocol's shape. ``requests`` logs every call.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.fake_exchange import Failure, FaultInjection
from tests.ports import free_port

KEY = "sk-test-fake-llm-key-1234"
STRATEGY_ANSWER = '''Here is the strategy.

```python
import pandas as pd
from alphabook.research.indicators import compute


def indicator(df):
    rsi = compute("rsi", df, timeperiod=14)
    lines = compute("macd", df, fastperiod=12, slowperiod=26, signalperiod=9)
    above = lines["macd"] > lines["macdsignal"]
    crossed_up = above & ~above.shift(1, fill_value=True)
    crossed_down = ~above & above.shift(1, fill_value=False)
    return {"entries": (rsi < 30) & crossed_up, "exits": (rsi > 70) | crossed_down}
```

Entries need RSI(14) under 30 on the bar where MACD crosses above its signal line; exits are the reverse.
'''


def rate_limited(protocol: str, retry_after_s: int = 0) -> Failure:
    headers = {"Retry-After": str(retry_after_s)}
    if protocol == "anthropic":
        return Failure(429, {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limited"}},
                       headers)
    if protocol == "gemini":
        return Failure(429, {"error": {"code": 429, "message": "Resource has been exhausted",
                                       "status": "RESOURCE_EXHAUSTED"}}, headers)
    return Failure(429, {"error": {"message": "Rate limit reached for requests", "type": "requests",
                                   "code": "rate_limit_exceeded"}}, headers)


def server_error(protocol: str, status: int = 500) -> Failure:
    if protocol == "anthropic":
        return Failure(status, {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}})
    if protocol == "gemini":
        return Failure(status, {"error": {"code": status, "message": "Internal error", "status": "INTERNAL"}})
    return Failure(status, {"error": {"message": "The server had an error", "type": "server_error", "code": None}})


@dataclass
class LoggedRequest:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeLLM(FaultInjection):
    url: str = ""
    replies: list[str] = field(default_factory=list)
    requests: list[LoggedRequest] = field(default_factory=list)
    answering: threading.Event = field(default_factory=threading.Event)  # cleared: answers wait, as a slow model's

    def __post_init__(self) -> None:
        FaultInjection.__init__(self)
        self._lock = threading.Lock()
        self.answering.set()

    def answer(self) -> str:
        with self._lock:
            return self.replies.pop(0) if self.replies else STRATEGY_ANSWER

    def calls(self, path: str) -> list[LoggedRequest]:
        return [request for request in self.requests if request.path.startswith(path)]


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeLLM

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: dict[str, Any] = json.loads(raw) if raw else {}
        path = self.path.split("?", 1)[0]
        self.fake.requests.append(LoggedRequest(path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.fake.answering.wait(60)
        fault = self.fake._take_fault("POST", path)
        if fault is not None and fault.failure is not None:
            self._send(fault.failure.status, fault.failure.body, fault.failure.headers)
            return
        if path == "/v1/chat/completions":
            self._openai(body)
        elif path == "/v1/messages":
            self._anthropic(body)
        elif path.startswith(("/v1/models/", "/v1beta/models/")) and path.endswith(":generateContent"):
            self._gemini(path.split("/models/", 1)[1].removesuffix(":generateContent"), body)
        else:
            self._send(404, {"error": {"message": f"Unknown path {path}"}})

    def _openai(self, body: dict[str, Any]) -> None:
        if self.headers.get("Authorization") != f"Bearer {KEY}":
            self._send(401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
                                       "code": "invalid_api_key"}})
            return
        prompt = "".join(str(message.get("content", "")) for message in body["messages"])
        text = self.fake.answer()
        self._send(200, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": 1767225600,
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": _tokens(prompt), "completion_tokens": _tokens(text),
                      "total_tokens": _tokens(prompt) + _tokens(text)},
        })

    def _anthropic(self, body: dict[str, Any]) -> None:
        if KEY not in (self.headers.get("x-api-key"), self.headers.get("Authorization", "").removeprefix("Bearer ")):
            self._send(401, {"type": "error", "error": {"type": "authentication_error",
                                                        "message": "invalid x-api-key"}})
            return
        if not self.headers.get("anthropic-version") or "max_tokens" not in body:
            self._send(400, {"type": "error", "error": {"type": "invalid_request_error",
                                                        "message": "max_tokens: Field required"}})
            return
        prompt = str(body.get("system", "")) + "".join(str(message["content"]) for message in body["messages"])
        text = self.fake.answer()
        self._send(200, {
            "id": f"msg_{uuid.uuid4().hex[:20]}", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": _tokens(prompt), "output_tokens": _tokens(text)},
        })

    def _gemini(self, model: str, body: dict[str, Any]) -> None:
        if self.headers.get("x-goog-api-key") != KEY:
            self._send(400, {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                                       "status": "INVALID_ARGUMENT"}})
            return
        parts = [part.get("text", "") for content in body.get("contents", []) for part in content.get("parts", [])]
        system = body.get("systemInstruction") or body.get("system_instruction") or {}
        prompt = "".join(parts) + "".join(part.get("text", "") for part in system.get("parts", []))
        text = self.fake.answer()
        self._send(200, {
            "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP",
                            "index": 0}],
            "usageMetadata": {"promptTokenCount": _tokens(prompt), "candidatesTokenCount": _tokens(text),
                              "totalTokenCount": _tokens(prompt) + _tokens(text)},
            "modelVersion": model,
        })


@contextmanager
def fake_llm() -> Iterator[FakeLLM]:
    """A running fake on a free loopback port; ``fake.url`` is its root (no trailing slash)."""
    fake = FakeLLM()
    handler = type("Handler", (_Handler,), {"fake": fake})
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    fake.url = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=server.serve_forever, name="fake-llm", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
