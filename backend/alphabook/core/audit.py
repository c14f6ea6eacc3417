"""The append-only audit log: who did what to which thing, and when.

Every money, order and moderation action calls :func:`record` inside the same transaction as the change
it describes, so an action and its audit row are committed or lost together. The table is append-only in
the database itself (triggers added by the migration refuse UPDATE and DELETE), not just by convention.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from alphabook.core.clock import utcnow
from alphabook.core.db import Base


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]]


def record(session: Session, *, actor: str, action: str, subject: str, **data: Any) -> AuditEntry:
    """Add an audit row to ``session``'s transaction. ``data`` must be JSON-serialisable."""
    entry = AuditEntry(at=utcnow(), actor=actor, action=action, subject=subject, data=data)
    session.add(entry)
    return entry


def record_many(session: Session, entries: Sequence[Entry]) -> None:
    """Write several audit rows in ``session``'s transaction now, in one statement (a batch of alerts' orders):
    the ORM would insert them one by one on SQLite, where it cannot match generated ids to rows otherwise."""
    if entries:
        now = utcnow()
        session.connection().execute(insert(AuditEntry), [
            {"at": now, "actor": entry.actor, "action": entry.action, "subject": entry.subject, "data": entry.data}
            for entry in entries])


@dataclass(frozen=True, slots=True)
class Entry:
    """An audit row for :func:`record_many`."""

    actor: str
    action: str
    subject: str
    data: dict[str, Any]


def entries(
    session: Session,
    *,
    subject: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    after_id: int = 0,
    limit: int | None = None,
) -> list[AuditEntry]:
    """Audit rows, oldest first, optionally narrowed; ``after_id`` pages through a long log."""
    query = select(AuditEntry).where(AuditEntry.id > after_id).order_by(AuditEntry.id)
    for column, value in ((AuditEntry.subject, subject), (AuditEntry.action, action), (AuditEntry.actor, actor)):
        if value is not None:
            query = query.where(column == value)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))
