"""The assistant's API shapes (pydantic): provider settings, strategy requests and results, usage, and the
subset of OpenAI's chat-completions format that jupyter-ai and other OpenAI clients send us."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alphabook.ai.base import Message
from alphabook.ai.models import AiProviderSetting, AiUsage
from alphabook.ai.pipeline import StrategyResult
from alphabook.ai.router import DEFAULT_ROUTE, Routed
from alphabook.marketplace.schemas import MoneyIn, MoneyOut

__all__ = ["ChatRequest", "CreditGrant", "ProviderIn", "ProviderOut", "StrategyIn", "StrategyOut", "UsageOut",
           "chat_chunks", "chat_completion", "model_list"]


class ProviderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["openai", "deepseek", "ollama", "anthropic", "gemini", "rules"]
    model: str = Field(default="", max_length=120, description="Empty: the provider's default model.")
    base_url: str = Field(default="", max_length=500, description="Empty: the provider's public address.")
    api_key: str | None = Field(default=None, max_length=500, description=(
        "Your key (stored encrypted, never shown again); omit to keep the stored one, '' to remove it."))
    priority: int = Field(default=0, ge=0, le=100, description="Lower is tried first; the others are fallbacks.")


class ProviderOut(BaseModel):
    name: str
    kind: str
    model: str
    base_url: str
    has_key: bool
    key_last4: str
    priority: int
    updated_at: datetime

    @classmethod
    def of(cls, row: AiProviderSetting) -> ProviderOut:
        return cls(name=row.name, kind=row.kind, model=row.model, base_url=row.base_url,
                   has_key=row.api_key_encrypted is not None, key_last4=row.key_last4, priority=row.priority,
                   updated_at=row.updated_at)


class StrategyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sentence: str = Field(min_length=1, max_length=2000, examples=[
        "buy BTC when RSI < 30 and MACD crosses above its signal"])
    provider: str = Field(default=DEFAULT_ROUTE, max_length=40, description=(
        f"'{DEFAULT_ROUTE}': your providers in order; or one provider's name, 'managed' or 'offline'."))
    symbol: str | None = Field(default=None, max_length=40, description="Empty: the asset the sentence names.")
    timeframe: str | None = Field(default=None, max_length=8)


class StrategyOut(BaseModel):
    sentence: str
    ok: bool
    error: str | None
    code: str
    explanation: str
    provider: str
    model: str
    attempts: int
    steps: list[dict[str, Any]]
    dataset: dict[str, Any]
    backtest: dict[str, Any] | None
    chart: dict[str, Any] | None
    charge: MoneyOut | None
    skipped: list[str]

    @classmethod
    def of(cls, result: StrategyResult) -> StrategyOut:
        return cls.model_validate(asdict(result) | {"charge": MoneyOut.of(result.charge) if result.charge else None})


class UsageOut(BaseModel):
    at: datetime
    provider: str
    model: str
    purpose: str
    managed: bool
    input_tokens: int
    output_tokens: int
    charge_minor: int
    currency: str

    @classmethod
    def of(cls, row: AiUsage) -> UsageOut:
        return cls(at=row.at, provider=row.provider, model=row.model, purpose=row.purpose, managed=row.managed,
                   input_tokens=row.input_tokens, output_tokens=row.output_tokens, charge_minor=row.charge_minor,
                   currency=row.currency)


class CreditGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = Field(min_length=1, max_length=100)
    amount: MoneyIn
    reason: str = Field(min_length=3, max_length=500)


class ChatMessageIn(BaseModel):
    role: Literal["system", "user", "assistant", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def to_message(self) -> Message:
        content = self.content if isinstance(self.content, str) else "".join(
            str(part.get("text", "")) for part in self.content or [] if part.get("type") == "text")
        return Message("system" if self.role == "developer" else self.role, content)


class ChatRequest(BaseModel):
    """OpenAI's ``/v1/chat/completions`` request; fields we do not use (temperature…) are accepted and ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = DEFAULT_ROUTE
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=200)
    stream: bool = False


def chat_completion(routed: Routed, model: str) -> dict[str, Any]:
    """The answer in OpenAI's ``chat.completion`` shape."""
    completion = routed.completion
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": completion.text},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": {"prompt_tokens": completion.input_tokens, "completion_tokens": completion.output_tokens,
                  "total_tokens": completion.input_tokens + completion.output_tokens},
    }


def chat_chunks(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The same answer as OpenAI's streamed ``chat.completion.chunk`` events (one with the text, one final)."""
    base = {"id": answer["id"], "object": "chat.completion.chunk", "created": answer["created"],
            "model": answer["model"]}
    text = answer["choices"][0]["message"]["content"]
    return [base | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": text},
                                 "finish_reason": None}]},
            base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": answer["usage"]}]


def model_list(names: list[str]) -> dict[str, Any]:
    """OpenAI's ``/v1/models`` answer: the person's routes, the whole chain first."""
    return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "alphabook"}
                                       for name in names]}
