"""The offline provider: no model, no key, no network; :mod:`alphabook.ai.sentences` reads the request.

It is what answers when nobody configured a provider (``make run`` on a fresh machine), so the assistant
always works and the tests of everything around a model are deterministic. It reads the conversation's first
user message (the person's sentence), answers with the strategy code in a fenced block and its reading of
the rules, or, for a sentence it does not understand, with what it can understand instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from alphabook.ai.base import Completion, LLMProvider, Message, ProviderCapabilities
from alphabook.ai.sentences import parse_rules, write_code
from alphabook.core.errors import InvalidInput

__all__ = ["RulesProvider"]

MODEL = "alphabook-rules-1"


class RulesProvider(LLMProvider):
    kinds: ClassVar[dict[str, ProviderCapabilities]] = {
        "rules": ProviderCapabilities(needs_key=False, offline=True, metered=False, default_model=MODEL)}

    def complete(self, messages: Sequence[Message], model: str, max_tokens: int) -> Completion:
        request = next((message.content for message in messages if message.role == "user"), "")
        try:
            rules = parse_rules(request)
            text = f"```python\n{write_code(rules, request)}```\n\n{rules.describe()}\n"
        except InvalidInput as error:
            text = (f"I am alphabook's offline assistant and only turn trading rules into strategies. "
                    f"{error.detail}")
        words = sum(len(message.content.split()) for message in messages)
        return Completion(text=text, input_tokens=words, output_tokens=len(text.split()), model=MODEL)
