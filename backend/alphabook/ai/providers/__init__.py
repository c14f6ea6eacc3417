"""The provider implementations by kind, and the one function that builds a configured provider."""

from __future__ import annotations

from alphabook.ai.base import LLMProvider
from alphabook.core.errors import InvalidInput

__all__ = ["KINDS", "build_provider", "provider_class"]

KINDS = ("openai", "deepseek", "ollama", "anthropic", "gemini", "rules")


def provider_class(kind: str) -> type[LLMProvider]:
    """The class speaking ``kind``'s protocol (its SDK is imported only now)."""
    if kind in {"openai", "deepseek", "ollama"}:
        from alphabook.ai.providers.openai_compatible import OpenAICompatibleProvider

        return OpenAICompatibleProvider
    if kind == "anthropic":
        from alphabook.ai.providers.anthropic import AnthropicProvider

        return AnthropicProvider
    if kind == "gemini":
        from alphabook.ai.providers.gemini import GeminiProvider

        return GeminiProvider
    if kind == "rules":
        from alphabook.ai.providers.rules import RulesProvider

        return RulesProvider
    raise InvalidInput(f"There is no AI provider kind {kind!r}; use one of {', '.join(KINDS)}.")


def build_provider(kind: str, api_key: str | None = None, base_url: str = "", timeout_s: float = 60.0) -> LLMProvider:
    """A provider of ``kind`` (one of :data:`KINDS`) at ``base_url`` (empty: its public address)."""
    cls = provider_class(kind)
    if cls.kinds[kind].needs_key and not api_key:
        raise InvalidInput(f"A {kind} provider needs an API key.")
    return cls(kind=kind, api_key=api_key, base_url=base_url, timeout_s=timeout_s)
