"""Tables of notifications: what each person wants to hear about and where, and every delivery made or owed.

A delivery row is written in the transaction of the action it reports (a sale, a moderation decision), so an
action that rolls back notifies nobody; it is sent after the commit by the courier
(:mod:`alphabook.notifications.delivery`), which claims rows with a lease (``claimed_until``), so several
couriers share the work and a crashed one's rows are taken over. The rows double as the person's delivery log.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from alphabook.core.db import Base
from alphabook.core.secrets_at_rest import ENCRYPTED

__all__ = ["Channel", "DeliveryStatus", "NotificationDelivery", "NotificationPreferences"]

BIG_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite's rowid alias must be INTEGER


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class NotificationPreferences(Base):
    """A person's choices; without a row, the defaults of :mod:`alphabook.notifications.events` apply."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254))  # None: the account's own address
    email_events: Mapped[list[str]]
    webhook_events: Mapped[list[str]]
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    webhook_secret_ciphertext: Mapped[str | None] = mapped_column(Text, info=ENCRYPTED)  # Fernet (core.secrets_at_rest)
    updated_at: Mapped[datetime]


class NotificationDelivery(Base):
    """One message to one address by one channel: owed (``pending``), ``sent``, or given up (``failed``)."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
                      Index("ix_notification_deliveries_user_id_id", "user_id", "id"))

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(2000))  # the e-mail address or webhook URL, as it was then
    payload: Mapped[dict[str, Any]]  # the event's data: what the webhook receives and the e-mail says
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
