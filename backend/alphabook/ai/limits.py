"""Per-person limits on the assistant: calls per minute (every provider) and managed spend per UTC day.

Both are counted from ``ai_usage`` rows in the database, so they hold across API processes and restarts
without another store. A refused call raises :class:`~alphabook.core.errors.RateLimited` with the seconds
until it would be accepted.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.ai.models import AiUsage
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.errors import RateLimited

__all__ = ["check_limits"]


def check_limits(session: Session, user: User, settings: Settings, *, managed: bool) -> None:
    now = utcnow()
    minute_ago = now - timedelta(minutes=1)
    recent = list(session.scalars(select(AiUsage.at).where(AiUsage.user_id == user.id, AiUsage.at > minute_ago)
                                  .order_by(AiUsage.at)))
    if len(recent) >= settings.ai_requests_per_minute:
        wait = (recent[0] + timedelta(minutes=1) - now).total_seconds()
        raise RateLimited(f"You made {len(recent)} assistant calls in the last minute; the limit is "
                          f"{settings.ai_requests_per_minute}.", retry_after=max(1, int(wait) + 1))
    if not managed:
        return
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    spent = session.scalar(select(func.coalesce(func.sum(AiUsage.charge_minor), 0))
                           .where(AiUsage.user_id == user.id, AiUsage.managed, AiUsage.at >= midnight)) or 0
    if int(spent) >= settings.ai_spend_per_day_minor:
        wait = (midnight + timedelta(days=1) - now).total_seconds()
        raise RateLimited(f"You spent {int(spent)} US cents of platform AI credits today; the daily limit is "
                          f"{settings.ai_spend_per_day_minor}. Your own provider key has no such limit.",
                          retry_after=max(1, int(wait)))
