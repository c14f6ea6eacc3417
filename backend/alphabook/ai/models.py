"""Tables of the AI assistant: the providers each person configured, and one row per metered model call.

A person's API key is stored encrypted (Fernet, :mod:`alphabook.core.secrets_at_rest`) beside its last four
characters, which is all the API ever shows again. Usage rows are what the per-person limits count and what
the usage page lists; the money itself moves in the payments ledger (:mod:`alphabook.ai.credits`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alphabook.core.db import Base
from alphabook.core.secrets_at_rest import ENCRYPTED

__all__ = ["AiProviderSetting", "AiUsage"]

BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class AiProviderSetting(Base):
    """One provider a person configured: ``kind`` names the wire protocol (openai, deepseek, ollama,
    anthropic, gemini); the lowest ``priority`` is tried first, the next ones are fallbacks."""

    __tablename__ = "ai_provider_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))
    base_url: Mapped[str] = mapped_column(String(500), default="")
    model: Mapped[str] = mapped_column(String(120))
    api_key_encrypted: Mapped[str | None] = mapped_column(Text, info=ENCRYPTED)
    key_last4: Mapped[str] = mapped_column(String(4), default="")
    priority: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_ai_provider_settings_user_id_name"),)


class AiUsage(Base):
    """One answered model call: tokens, and for managed calls what it cost the platform and what was charged."""

    __tablename__ = "ai_usage"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(120))
    purpose: Mapped[str] = mapped_column(String(16))  # strategy, chat
    managed: Mapped[bool] = mapped_column(default=False)
    input_tokens: Mapped[int] = mapped_column(default=0)
    output_tokens: Mapped[int] = mapped_column(default=0)
    cost_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    charge_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    ledger_txn: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(index=True)
