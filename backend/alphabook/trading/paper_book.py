"""The paper broker's own book: what a venue keeps, kept apart from alphabook's order journal.

alphabook's ``orders``/``order_fills`` are what we asked for and what the broker answered, for every broker;
these tables are the simulated venue itself, so the paper broker is a counterparty like any other (its state
can disagree with the journal until the dispatcher has fetched it, exactly as a real exchange's can).
``paper_accounts`` holds the cash and is the row every change to an account locks first, so concurrent
orders are serialised per account; positions are per symbol, at average cost. Amounts are exact decimals
(:class:`~alphabook.core.db.ExactDecimal`) kept at the venue's precision (1e-10), not rounded to cents.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alphabook.core.db import Base
from alphabook.trading.models import BIG_ID

__all__ = ["PaperAccount", "PaperFill", "PaperOrder", "PaperPosition"]


class PaperAccount(Base):
    """The venue's cash for one trading account, made from the account's starting cash on first use."""

    __tablename__ = "paper_accounts"

    account_id: Mapped[int] = mapped_column(ForeignKey("trading_accounts.id", ondelete="CASCADE"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    cash: Mapped[Decimal]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PaperPosition(Base):
    """Holdings of one symbol (negative: short), at average cost."""

    __tablename__ = "paper_positions"

    account_id: Mapped[int] = mapped_column(ForeignKey("paper_accounts.account_id", ondelete="CASCADE"),
                                            primary_key=True)
    symbol: Mapped[str] = mapped_column(String(40), primary_key=True)
    quantity: Mapped[Decimal]
    average_price: Mapped[Decimal]
    updated_at: Mapped[datetime]


class PaperOrder(Base):
    """An order on the paper venue, with what it holds back from the account while it works."""

    __tablename__ = "paper_orders"
    __table_args__ = (
        UniqueConstraint("account_id", "client_order_id", name="uq_paper_orders_account_id_client_order_id"),
        Index("ix_paper_orders_account_id_status", "account_id", "status"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("paper_accounts.account_id", ondelete="CASCADE"))
    client_order_id: Mapped[str] = mapped_column(String(36))
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[str] = mapped_column(String(4))
    type: Mapped[str] = mapped_column(String(12))
    time_in_force: Mapped[str] = mapped_column(String(4))
    quantity: Mapped[Decimal]
    limit_price: Mapped[Decimal | None]
    stop_price: Mapped[Decimal | None]
    status: Mapped[str] = mapped_column(String(18))
    filled_quantity: Mapped[Decimal]
    average_price: Mapped[Decimal | None]
    fees: Mapped[Decimal]
    reserved_cash: Mapped[Decimal]  # held back for the unfilled part of a buy (or a sell that opens a short)
    reserved_quantity: Mapped[Decimal]  # holdings held back for the unfilled part of a sell
    triggered_at: Mapped[datetime | None]  # when a stop's price traded
    evaluated_from: Mapped[datetime]  # bars opening at or after this have not been matched against it yet
    expires_at: Mapped[datetime | None]  # a DAY order's end: the next UTC midnight after it was placed
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("paper_orders.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    fills: Mapped[list[PaperFill]] = relationship(back_populates="order", order_by="PaperFill.id",
                                                  cascade="all, delete-orphan")


class PaperFill(Base):
    """One execution on the paper venue; ``fill_id`` is ``<client order id>-<n>``, unique within its order (an
    order's first fill is written with it, before the venue has given it an id)."""

    __tablename__ = "paper_fills"
    __table_args__ = (UniqueConstraint("order_id", "fill_id", name="uq_paper_fills_order_id_fill_id"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("paper_orders.id", ondelete="CASCADE"), index=True)
    fill_id: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[Decimal]
    price: Mapped[Decimal]
    fee: Mapped[Decimal]
    fee_currency: Mapped[str] = mapped_column(String(12))
    liquidity: Mapped[str] = mapped_column(String(5))  # "maker" or "taker"
    at: Mapped[datetime]

    order: Mapped[PaperOrder] = relationship(back_populates="fills")
