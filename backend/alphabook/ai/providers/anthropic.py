"""Anthropic's Messages API through the official ``anthropic`` SDK.

Anthropic takes the system prompt beside the conversation rather than as a message, and counts tokens in
``usage.input_tokens``/``output_tokens``; errors come as ``{"type": "error", "error": {...}}`` with the
HTTP status, sorted by :func:`alphabook.ai.base.error_for_status` (529 "overloaded" is busy, like 5xx).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import anthropic

from alphabook.ai.base import Completion, LLMProvider, Message, ProviderBusy, ProviderCapabilities, error_for_status

__all__ = ["AnthropicProvider"]


class AnthropicProvider(LLMProvider):
    kinds: ClassVar[dict[str, ProviderCapabilities]] = {
        "anthropic": ProviderCapabilities(needs_key=True, offline=False, metered=True,
                                          default_model="claude-3-5-haiku-latest")}

    def complete(self, messages: Sequence[Message], model: str, max_tokens: int) -> Completion:
        client = anthropic.Anthropic(api_key=self.api_key, base_url=self.base_url or None, max_retries=0,
                                     timeout=self.timeout_s)
        system = "\n\n".join(message.content for message in messages if message.role == "system")
        turns: Any = [{"role": message.role, "content": message.content} for message in messages
                      if message.role != "system"]
        try:
            reply = client.messages.create(model=model, max_tokens=max_tokens, messages=turns,
                                           system=system or anthropic.omit)
        except anthropic.APIStatusError as error:
            raise error_for_status(self.kind, error.status_code, _message(error),
                                   error.response.headers.get("retry-after")) from None
        except anthropic.APIConnectionError as error:
            raise ProviderBusy(f"{self.kind} could not be reached: {error}") from None
        finally:
            client.close()
        text = "".join(block.text for block in reply.content if block.type == "text")
        return Completion(text=text, input_tokens=reply.usage.input_tokens, output_tokens=reply.usage.output_tokens,
                          model=reply.model or model)


def _message(error: anthropic.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict) and body["error"].get("message"):
        return str(body["error"]["message"])
    return str(error.message)
