"""OpenAI's chat completions protocol through the official ``openai`` SDK: OpenAI, DeepSeek and Ollama.

DeepSeek and Ollama serve the same ``/v1/chat/completions`` wire format at their own address, so one class
speaks for the three; only the default address, model and whether a key is needed differ. The SDK's own
retries are off (``max_retries=0``): :func:`alphabook.ai.base.with_retries` retries, the same way for all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import openai

from alphabook.ai.base import (
    Completion,
    LLMProvider,
    Message,
    ProviderBusy,
    ProviderCapabilities,
    error_for_status,
)

__all__ = ["OpenAICompatibleProvider"]

PUBLIC_URLS = {"openai": "https://api.openai.com/v1", "deepseek": "https://api.deepseek.com/v1",
               "ollama": "http://127.0.0.1:11434/v1"}


class OpenAICompatibleProvider(LLMProvider):
    kinds: ClassVar[dict[str, ProviderCapabilities]] = {
        "openai": ProviderCapabilities(needs_key=True, offline=False, metered=True, default_model="gpt-4o-mini"),
        "deepseek": ProviderCapabilities(needs_key=True, offline=False, metered=True, default_model="deepseek-chat"),
        "ollama": ProviderCapabilities(needs_key=False, offline=False, metered=False, default_model="llama3.1"),
    }

    def complete(self, messages: Sequence[Message], model: str, max_tokens: int) -> Completion:
        client = openai.OpenAI(api_key=self.api_key or "ollama", base_url=self.base_url or PUBLIC_URLS[self.kind],
                               max_retries=0, timeout=self.timeout_s)
        payload: Any = [{"role": message.role, "content": message.content} for message in messages]
        try:
            reply = client.chat.completions.create(model=model, messages=payload, max_tokens=max_tokens)
        except openai.APIStatusError as error:
            raise error_for_status(self.kind, error.status_code, _message(error),
                                   error.response.headers.get("retry-after")) from None
        except openai.APIConnectionError as error:  # also timeouts
            raise ProviderBusy(f"{self.kind} could not be reached: {error}") from None
        finally:
            client.close()
        if not reply.choices:
            raise ProviderBusy(f"{self.kind} answered without a choice.")
        usage = reply.usage
        return Completion(text=reply.choices[0].message.content or "",
                          input_tokens=usage.prompt_tokens if usage else 0,
                          output_tokens=usage.completion_tokens if usage else 0, model=reply.model or model)


def _message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(error.message)
