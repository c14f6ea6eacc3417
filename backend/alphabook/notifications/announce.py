"""Where each domain tells notifications that something happened: one function per event, called in the
domain's own transaction (a completed purchase, a settled payout, a moderation decision, a refused alert, a run's
end), so that the domain code only gains one line and what a notification says is decided here.

Each builds the event's ``data`` (the webhook's JSON, which the e-mail repeats in words) from the domain's rows and
hands it to :func:`alphabook.notifications.service.notify`, which never raises.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from alphabook.core.config import Settings
from alphabook.core.errors import AlphabookError
from alphabook.core.money import Money
from alphabook.marketplace.models import Listing, ListingVersion, VersionStatus
from alphabook.notifications.events import Event
from alphabook.notifications.service import notify
from alphabook.payments.models import Payout, PayoutStatus, Purchase
from alphabook.scheduler import notify as run_reports
from alphabook.scheduler.models import Job, Run, RunStatus
from alphabook.trading.models import Alert, Hook, TradingAccount
from alphabook.trading.risk import RiskRefused

if TYPE_CHECKING:
    from alphabook.trading.orders import OrderIntent

__all__ = ["alert_refused", "listing_decided", "payout_settled", "run_ended", "sale_made"]

FAILED_RUNS = (RunStatus.FAILED, RunStatus.TIMED_OUT)


def _money(amount: Money) -> dict[str, Any]:
    return {"amount_minor": amount.amount_minor, "currency": amount.currency, "display": str(amount)}


def _listing(listing: Listing) -> dict[str, str]:
    return {"slug": listing.slug, "title": listing.title}


def sale_made(session: Session, purchase: Purchase) -> None:
    """A purchase completed: its creator hears what sold, for how much, and their share (not who bought it)."""
    listing = session.get(Listing, purchase.listing_id)
    if listing is None:
        return
    notify(session, purchase.creator_id, Event.SALE_MADE, {
        "purchase_id": purchase.id, "listing": _listing(listing), "amount": _money(purchase.amount),
        "creator_share": _money(Money(purchase.creator_share_minor, purchase.currency))})


def payout_settled(session: Session, payout: Payout) -> None:
    """A payout was paid, or failed (its money is back on the balance)."""
    if payout.status not in (PayoutStatus.PAID, PayoutStatus.FAILED):
        return
    event = Event.PAYOUT_PAID if payout.status == PayoutStatus.PAID else Event.PAYOUT_FAILED
    notify(session, payout.creator_id, event, {"payout_id": payout.id, "amount": _money(payout.amount),
                                               "reference": payout.provider_ref, "reason": payout.failure})


def listing_decided(session: Session, listing: Listing, version: ListingVersion) -> None:
    """A moderator approved or rejected a version; the creator reads the reason."""
    if version.status not in (VersionStatus.APPROVED, VersionStatus.REJECTED):
        return
    event = Event.LISTING_APPROVED if version.status == VersionStatus.APPROVED else Event.LISTING_REJECTED
    notify(session, listing.creator_id, event, {"listing": _listing(listing), "version": version.version,
                                                "reason": version.review_reason})


def alert_refused(session: Session, account: TradingAccount, hook: Hook, alert: Alert, intent: OrderIntent,
                  refusal: AlphabookError) -> None:
    """An alert's order was refused by a risk limit or kill switch; other refusals (bad input) are the sender's
    business, answered in the HTTP reply and kept in the alert log, and are not announced."""
    if not isinstance(refusal, RiskRefused):
        return
    notify(session, account.owner_id, Event.ALERT_REJECTED, {
        "alert_id": alert.id, "hook": {"id": hook.id, "name": hook.name},
        "account": {"id": account.id, "name": account.name},
        "order": {"symbol": intent.symbol, "side": str(intent.side), "quantity": f"{intent.quantity:f}"},
        "scope": refusal.scope, "limit": refusal.limit, "reason": refusal.detail,
        "kill_switch_tripped": refusal.tripped})


def run_ended(session: Session, job: Job, run: Run, settings: Settings) -> None:
    """A run's last attempt ended. A job with its own targets (``notify.email`` / ``notify.webhook``, sent by
    :mod:`alphabook.scheduler.notify`) keeps them; any other job's owner hears through their preferences.
    Cancelled runs were someone's own decision and are not announced."""
    if job.notify.get("email") or job.notify.get("webhook"):
        return
    if run.status == RunStatus.SUCCEEDED:
        event = Event.RUN_SUCCEEDED
    elif run.status in FAILED_RUNS:
        event = Event.RUN_FAILED
    else:
        return
    notify(session, job.owner_id, event, run_reports.payload(job, run, settings))
