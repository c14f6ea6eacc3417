"""Google's Gemini ``generateContent`` through the official ``google-genai`` SDK.

``http_options.base_url`` points the SDK at another address (a proxy, or the tests' local fake). Gemini calls
the assistant's role ``model`` and takes the system prompt as ``system_instruction``; token counts are in
``usage_metadata``. The SDK's own retries stay off (no ``retry_options``), as for every provider here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import httpx
from google import genai
from google.genai import errors, types

from alphabook.ai.base import Completion, LLMProvider, Message, ProviderBusy, ProviderCapabilities, error_for_status

__all__ = ["GeminiProvider"]


class GeminiProvider(LLMProvider):
    kinds: ClassVar[dict[str, ProviderCapabilities]] = {
        "gemini": ProviderCapabilities(needs_key=True, offline=False, metered=True, default_model="gemini-2.0-flash")}

    def complete(self, messages: Sequence[Message], model: str, max_tokens: int) -> Completion:
        options = types.HttpOptions(timeout=int(self.timeout_s * 1000), base_url=self.base_url or None)
        client = genai.Client(api_key=self.api_key, http_options=options)
        system = "\n\n".join(message.content for message in messages if message.role == "system")
        contents = [types.Content(role="model" if message.role == "assistant" else "user",
                                  parts=[types.Part(text=message.content)])
                    for message in messages if message.role != "system"]
        config = types.GenerateContentConfig(max_output_tokens=max_tokens, system_instruction=system or None)
        try:
            reply = client.models.generate_content(model=model, contents=contents, config=config)
        except errors.APIError as error:
            headers = getattr(error.response, "headers", None) or {}
            raise error_for_status(self.kind, error.code, error.message or str(error),
                                   headers.get("retry-after")) from None
        except httpx.TransportError as error:
            raise ProviderBusy(f"{self.kind} could not be reached: {error}") from None
        finally:
            client.close()
        usage = reply.usage_metadata
        return Completion(text=reply.text or "",
                          input_tokens=(usage.prompt_token_count or 0) if usage else 0,
                          output_tokens=(usage.candidates_token_count or 0) if usage else 0,
                          model=reply.model_version or model)
