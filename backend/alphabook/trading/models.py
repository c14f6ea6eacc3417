"""Tables of trading: accounts, their broker credentials, orders and fills, the outbox, hooks and alerts.

An order is written before anything is sent (the outbox row beside it, in the same transaction), so a crash
between an alert's receipt and the broker's answer loses nothing and, because each order carries its own
``client_order_id`` to the broker, sends nothing twice. Quantities and prices are exact decimals
(:class:`~alphabook.core.db.ExactDecimal`); money limits and cash are integer minor units with a currency.
Idempotency lives in unique constraints (an alert's key per hook, a client order id per account, a fill id
per order): an ``IntegrityError`` on insert means "already done".
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alphabook.accounts.models import User
from alphabook.core.db import Base
from alphabook.core.money import Money
from alphabook.core.secrets_at_rest import ENCRYPTED

__all__ = ["AccountKind", "AccountStatus", "Alert", "AlertDecision", "BrokerCredential", "Hook", "HookFormat", "Order",
           "OrderFill", "OrderSource", "OrderState", "OutboxMessage", "OutboxStatus", "TradingAccount"]

BIG_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite's rowid alias must be INTEGER


class AccountKind(StrEnum):
    DEMO = "demo"  # made in one click with virtual cash, no signup; expires unless renewed
    PAPER = "paper"  # a signed-in trader's own paper account
    LIVE = "live"  # routes to a real broker with the trader's credentials


class AccountStatus(StrEnum):
    ACTIVE = "active"
    READ_ONLY = "read_only"  # an expired demo: visible, trades nothing, cleaned up later
    CLOSED = "closed"


class OrderSource(StrEnum):
    MANUAL = "manual"
    HOOK = "hook"
    COPY = "copy"


class OrderState(StrEnum):
    """Our view of an order: ``pending`` until the dispatcher has the broker's answer, then the broker's status
    (see :class:`~alphabook.trading.brokers.base.OrderStatus`), or ``failed`` when it could not be sent."""

    PENDING = "pending"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    FAILED = "failed"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class HookFormat(StrEnum):
    TRADINGVIEW = "tradingview"  # secret and timestamp inside the JSON body: TradingView cannot sign or add headers
    SIGNED = "signed"  # Standard Webhooks: HMAC-SHA256 over ``id.timestamp.body`` in the headers


class AlertDecision(StrEnum):
    ACCEPTED = "accepted"  # an order was written
    DUPLICATE = "duplicate"  # the same alert was accepted before; nothing new was placed
    REFUSED = "refused"  # authentication, parsing, risk or kill switch said no; ``reason`` says which


class TradingAccount(Base):
    """A cash account that orders trade in: a demo, a trader's paper account, or one at a real broker."""

    __tablename__ = "trading_accounts"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)  # None for an anonymous demo
    kind: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(80))
    broker: Mapped[str] = mapped_column(String(16))  # "paper", "ccxt", "alpaca"
    currency: Mapped[str] = mapped_column(String(3))
    starting_cash_minor: Mapped[int] = mapped_column(BigInteger)
    demo_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)  # sha256 of the cookie's token
    demo_email: Mapped[str | None] = mapped_column(String(254))
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    kill_switch: Mapped[bool] = mapped_column(Boolean, default=False)
    kill_reason: Mapped[str | None] = mapped_column(Text)
    limits: Mapped[dict[str, Any]]  # account-wide risk limits (see alphabook.trading.risk)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    owner: Mapped[User | None] = relationship()

    @property
    def starting_cash(self) -> Money:
        return Money(self.starting_cash_minor, self.currency)


class BrokerCredential(Base):
    """A live account's keys, encrypted at rest with the installation's Fernet key; never sent back out."""

    __tablename__ = "broker_credentials"

    account_id: Mapped[int] = mapped_column(ForeignKey("trading_accounts.id", ondelete="CASCADE"), primary_key=True)
    venue: Mapped[str] = mapped_column(String(40))  # the ccxt exchange id, or "alpaca"
    sandbox: Mapped[bool] = mapped_column(Boolean)  # the venue's testnet / paper endpoint
    ciphertext: Mapped[str] = mapped_column(Text, info=ENCRYPTED)
    created_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]


class Hook(Base):
    """Where alerts arrive: ``POST /api/hooks/{id}``, bound to one account, with its secret and risk limits."""

    __tablename__ = "hooks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random and unguessable, but not the secret
    account_id: Mapped[int] = mapped_column(ForeignKey("trading_accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    format: Mapped[str] = mapped_column(String(12))
    live: Mapped[bool] = mapped_column(Boolean)  # False: a paper hook, which can never reach a live broker
    secret_ciphertext: Mapped[str] = mapped_column(Text, info=ENCRYPTED)
    previous_secret_ciphertext: Mapped[str | None] = mapped_column(Text, info=ENCRYPTED)  # still accepted until ...
    previous_secret_until: Mapped[datetime | None]  # ... this moment (rotation overlap)
    allowed_ips: Mapped[list[str]]  # addresses or networks; empty allows any
    limits: Mapped[dict[str, Any]]  # this hook's risk limits (see alphabook.trading.risk)
    kill_switch: Mapped[bool] = mapped_column(Boolean, default=False)
    kill_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    account: Mapped[TradingAccount] = relationship()


class Alert(Base):
    """Every request a hook received, and what was decided. Only an accepted alert holds its ``dedupe_key``,
    so the unique constraint lets exactly one of several concurrent retries through."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("hook_id", "dedupe_key", name="uq_alerts_hook_id_dedupe_key"),
                      Index("ix_alerts_hook_id_received_at", "hook_id", "received_at"))

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    hook_id: Mapped[str] = mapped_column(ForeignKey("hooks.id", ondelete="CASCADE"))
    dedupe_key: Mapped[str | None] = mapped_column(String(128))
    received_at: Mapped[datetime]
    source_ip: Mapped[str | None] = mapped_column(String(45))
    body: Mapped[dict[str, Any]]  # as received, with any secret it carried removed
    decision: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(Text)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))


class Order(Base):
    """An order as alphabook decided it, and the broker's answer as it arrives."""

    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("account_id", "client_order_id", name="uq_orders_account_id_client_order_id"),
                      Index("ix_orders_account_id_created_at", "account_id", "created_at"))

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("trading_accounts.id", ondelete="CASCADE"))
    client_order_id: Mapped[str] = mapped_column(String(36))
    source: Mapped[str] = mapped_column(String(8))
    hook_id: Mapped[str | None] = mapped_column(ForeignKey("hooks.id", ondelete="SET NULL"))
    copied_from_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(4))
    type: Mapped[str] = mapped_column(String(12))
    time_in_force: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Decimal]
    limit_price: Mapped[Decimal | None]
    stop_price: Mapped[Decimal | None]
    state: Mapped[str] = mapped_column(String(18), index=True)
    broker_order_id: Mapped[str | None] = mapped_column(String(64))
    filled_quantity: Mapped[Decimal]
    average_price: Mapped[Decimal | None]
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    account: Mapped[TradingAccount] = relationship()
    fills: Mapped[list[OrderFill]] = relationship(back_populates="order", order_by="OrderFill.at",
                                                  cascade="all, delete-orphan")


class OrderFill(Base):
    """One execution the broker reported; ``(order_id, fill_id)`` is unique, so a fill is applied once."""

    __tablename__ = "order_fills"
    __table_args__ = (UniqueConstraint("order_id", "fill_id", name="uq_order_fills_order_id_fill_id"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    fill_id: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[Decimal]
    price: Mapped[Decimal]
    fee: Mapped[Decimal]
    fee_currency: Mapped[str] = mapped_column(String(12))
    at: Mapped[datetime]

    order: Mapped[Order] = relationship(back_populates="fills")


class OutboxMessage(Base):
    """Work for the dispatcher, committed with the order it concerns: place it, cancel it, or replace it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(8))  # "place", "cancel", "replace"
    payload: Mapped[dict[str, Any]]  # what a replace changes; empty otherwise
    status: Mapped[str] = mapped_column(String(8))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]  # a dispatcher holds it until then; after, another may take over
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
