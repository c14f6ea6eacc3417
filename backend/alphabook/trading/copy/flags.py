"""Flags on providers an administrator should look at: *suspicious* (their claims failed verification) and
*underperforming* (drawdown or total return beyond the configured thresholds).

A flag is raised by the check that found the problem and cleared by the same check once it is gone, so the
flagged list is always the current state; each raise and clear is audited. At most one flag of each kind is open
per provider (``open_key`` is unique while open), so a check run twice, or by two jobs at once, raises one.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.trading.copy.models import FlagKind, ProviderFlag, SignalProvider

__all__ = ["check_performance", "clear", "flagged", "percent", "raise_flag"]


def percent(basis_points: int) -> str:
    """1234 -> "12.34 %"."""
    return f"{Decimal(basis_points).scaleb(-2):f} %"


def _open(session: Session, provider: SignalProvider, kind: FlagKind) -> ProviderFlag | None:
    return session.scalar(select(ProviderFlag).where(ProviderFlag.open_key == f"{provider.id}:{kind}"))


def raise_flag(session: Session, provider: SignalProvider, kind: FlagKind, reason: str, *, actor: str) -> ProviderFlag:
    """Open a flag of ``kind`` (or update the reason of the one already open)."""
    flag = _open(session, provider, kind)
    if flag is not None:
        flag.reason = reason
        return flag
    flag = ProviderFlag(provider_id=provider.id, kind=kind, reason=reason, open_key=f"{provider.id}:{kind}",
                        raised_at=utcnow())
    try:
        with session.begin_nested():
            session.add(flag)
    except IntegrityError:  # raised at the same moment by another check: that one stands
        found = _open(session, provider, kind)
        assert found is not None
        return found
    audit.record(session, actor=actor, action="copy.provider.flagged", subject=f"copy_provider:{provider.id}",
                 kind=str(kind), reason=reason)
    return flag


def clear(session: Session, provider: SignalProvider, kind: FlagKind, *, actor: str, why: str) -> bool:
    """Resolve the open flag of ``kind``, if there is one."""
    flag = _open(session, provider, kind)
    if flag is None:
        return False
    flag.open_key, flag.resolved_at = None, utcnow()
    audit.record(session, actor=actor, action="copy.provider.flag_cleared", subject=f"copy_provider:{provider.id}",
                 kind=str(kind), reason=why)
    session.flush()
    return True


def check_performance(session: Session, settings: Settings, provider: SignalProvider, *, actor: str) -> bool:
    """Flag ``provider`` as underperforming, or clear that flag, from their latest figures; True when flagged."""
    problems = []
    if provider.max_drawdown_bp is not None and provider.max_drawdown_bp > settings.copy_flag_drawdown_bp:
        problems.append(f"largest drawdown {percent(provider.max_drawdown_bp)} is beyond "
                        f"{percent(settings.copy_flag_drawdown_bp)}")
    if provider.return_bp is not None and provider.return_bp < settings.copy_flag_return_bp:
        problems.append(f"total return {percent(provider.return_bp)} is below "
                        f"{percent(settings.copy_flag_return_bp)}")
    if problems:
        raise_flag(session, provider, FlagKind.UNDERPERFORMING, "; ".join(problems), actor=actor)
        return True
    clear(session, provider, FlagKind.UNDERPERFORMING, actor=actor, why="back within the thresholds")
    return False


def flagged(session: Session) -> list[tuple[ProviderFlag, SignalProvider]]:
    """Every open flag with its provider, oldest first."""
    rows = session.execute(select(ProviderFlag, SignalProvider)
                           .join(SignalProvider, SignalProvider.id == ProviderFlag.provider_id)
                           .where(ProviderFlag.open_key.is_not(None)).order_by(ProviderFlag.raised_at, ProviderFlag.id))
    return [(flag, provider) for flag, provider in rows]
