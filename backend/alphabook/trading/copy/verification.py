"""Verification: a provider's claimed performance against what their platform-executed trades show.

The claims (total return, largest drawdown, win rate) are compared with the same figures computed from the
account's recorded fills (:func:`alphabook.trading.copy.metrics.daily_figures`) through today. The largest
difference, in basis points, must be within ``copy_verification_tolerance_bp``. A claim the record cannot back
at all (a return claimed by an account that never traded, a win rate without a single closing trade) fails.
A provider who claims nothing passes: there is nothing to contradict. Every run is stored with both sets of
figures and the verdict, audited, and a failure flags the provider as suspicious until a later run passes.
:func:`verify_all` is the job issue #9 schedules.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.trading.copy import flags
from alphabook.trading.copy.metrics import bp, daily_figures
from alphabook.trading.copy.models import (
    FlagKind,
    ProviderStatus,
    ProviderVerification,
    SignalProvider,
    Verification,
)
from alphabook.trading.models import TradingAccount

__all__ = ["CLAIMS", "verify", "verify_all"]

#: (name in the stored figures, the provider's claim column, what it is called in a reason)
CLAIMS = (("return_bp", "claimed_return_bp", "total return"), ("drawdown_bp", "claimed_drawdown_bp", "drawdown"),
          ("win_rate_bp", "claimed_win_rate_bp", "win rate"))


def verify(session: Session, settings: Settings, provider: SignalProvider, *, actor: str) -> ProviderVerification:
    account = session.get(TradingAccount, provider.account_id)
    assert account is not None
    now = utcnow()
    figures = daily_figures(session, account, through=now.date())
    last = figures[-1] if figures else None
    recorded: dict[str, int | None] = {
        "return_bp": bp(last.total_return) if last else None,
        "drawdown_bp": bp(last.drawdown) if last else None,
        "win_rate_bp": bp(last.win_rate) if last and last.win_rate is not None else None,
        "trades": last.trades if last else 0, "days": len(figures)}
    claimed = {name: getattr(provider, column) for name, column, _ in CLAIMS
               if getattr(provider, column) is not None}
    threshold = settings.copy_verification_tolerance_bp
    differences, unbacked = {}, []
    for name, _, label in CLAIMS:
        if name not in claimed:
            continue
        actual = recorded[name]
        if actual is None:
            unbacked.append(label)
        else:
            differences[label] = abs(claimed[name] - actual)
    discrepancy = max(differences.values(), default=None)
    if not claimed:
        passed, reason = True, "nothing claimed, nothing to contradict"
    elif unbacked:
        passed = False
        reason = (f"claimed {', '.join(unbacked)} without recorded trades to back it "
                  f"({recorded['trades']} closing trades over {len(figures)} days)")
    else:
        assert discrepancy is not None
        worst = max(differences, key=lambda label: differences[label])
        passed = discrepancy <= threshold
        reason = (f"largest discrepancy {flags.percent(discrepancy)} ({worst}) is "
                  f"{'within' if passed else 'beyond'} the tolerance of {flags.percent(threshold)}")
    result = ProviderVerification(provider_id=provider.id, passed=passed, threshold_bp=threshold,
                                  discrepancy_bp=discrepancy, claimed=claimed, recorded=recorded, reason=reason,
                                  actor=actor, at=now)
    session.add(result)
    before = provider.verification
    provider.verification, provider.verified_at = (Verification.PASSED if passed else Verification.FAILED), now
    if passed:
        flags.clear(session, provider, FlagKind.SUSPICIOUS, actor=actor, why=f"verification passed: {reason}")
    else:
        flags.raise_flag(session, provider, FlagKind.SUSPICIOUS, f"verification failed: {reason}", actor=actor)
    audit.record(session, actor=actor, action="copy.provider.verified", subject=f"copy_provider:{provider.id}",
                 passed=passed, reason=reason, threshold_bp=threshold, discrepancy_bp=discrepancy, claimed=claimed,
                 recorded=recorded, before={"verification": before}, after={"verification": provider.verification})
    session.flush()
    return result


def verify_all(session: Session, settings: Settings, *, actor: str) -> list[ProviderVerification]:
    """Verify every approved or suspended provider (the weekly job), in id order."""
    providers = session.scalars(select(SignalProvider).where(
        SignalProvider.status.in_([ProviderStatus.APPROVED, ProviderStatus.SUSPENDED])).order_by(SignalProvider.id))
    return [verify(session, settings, provider, actor=actor) for provider in providers]
