"""What alphabook tells people about: each event type, the words a person reads for it, and its defaults.

An event's ``data`` is the JSON a webhook receiver gets; :func:`message` turns the same data into an e-mail's
subject and text, so both channels always say the same thing. The names are stable strings (``sale.made``):
receivers branch on them, so they are never renamed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = ["DEFAULT_EMAIL", "Event", "message"]


class Event(StrEnum):
    RUN_FAILED = "run.failed"
    RUN_SUCCEEDED = "run.succeeded"
    SALE_MADE = "sale.made"
    PAYOUT_PAID = "payout.paid"
    PAYOUT_FAILED = "payout.failed"
    LISTING_APPROVED = "listing.approved"
    LISTING_REJECTED = "listing.rejected"
    ALERT_REJECTED = "alert.rejected"
    TEST = "test"  # sent on request to try the channels; not a choice in the preferences

    @property
    def label(self) -> str:
        """What the preferences page calls it."""
        return LABELS[self]

    @classmethod
    def choices(cls) -> list[Event]:
        """The events a person can subscribe to."""
        return [event for event in cls if event is not cls.TEST]


LABELS: dict[Event, str] = {
    Event.RUN_FAILED: "A scheduled run failed",
    Event.RUN_SUCCEEDED: "A scheduled run succeeded",
    Event.SALE_MADE: "You made a sale",
    Event.PAYOUT_PAID: "A payout was paid",
    Event.PAYOUT_FAILED: "A payout failed",
    Event.LISTING_APPROVED: "Your listing was approved",
    Event.LISTING_REJECTED: "Your listing was rejected",
    Event.ALERT_REJECTED: "An alert was refused by a risk limit",
    Event.TEST: "Test notification",
}

#: On by e-mail for someone who never chose (and has an address): what concerns their money and their work.
#: Successful runs and refused alerts are opt-in, because both can come many times a day.
DEFAULT_EMAIL: frozenset[Event] = frozenset({Event.RUN_FAILED, Event.SALE_MADE, Event.PAYOUT_PAID,
                                             Event.PAYOUT_FAILED, Event.LISTING_APPROVED, Event.LISTING_REJECTED})


def _money(value: dict[str, Any]) -> str:
    return str(value.get("display") or f"{value.get('amount_minor')} {value.get('currency')} (minor units)")


def message(event: Event, data: dict[str, Any]) -> tuple[str, str]:
    """(subject, text) of the e-mail for ``event`` with ``data``."""
    subject, text = _words(event, data)
    return f"[alphabook] {subject}", text


def _words(event: Event, data: dict[str, Any]) -> tuple[str, str]:
    if event in (Event.RUN_FAILED, Event.RUN_SUCCEEDED):
        run, job = data["run"], data["job"]
        text = [f"Job {job['name']}, run {run['id']} (attempt {run['attempt']}): {run['status']}."]
        if run.get("error"):
            text.append(f"Cell {run['failed_cell']}: {run['error']}" if run.get("failed_cell") else run["error"])
        text.append(f"Output: {run['output']}")
        return f"{job['name']}: run {run['id']} {run['status'].replace('_', ' ')}", "\n".join(text)
    if event is Event.SALE_MADE:
        listing = data["listing"]
        return (f"You sold {listing['title']}",
                f"Someone bought {listing['title']} ({listing['slug']}) for {_money(data['amount'])}.\n"
                f"Your share: {_money(data['creator_share'])} (purchase {data['purchase_id']}).")
    if event in (Event.PAYOUT_PAID, Event.PAYOUT_FAILED):
        amount = _money(data["amount"])
        if event is Event.PAYOUT_PAID:
            return f"Payout of {amount} paid", f"Payout {data['payout_id']} of {amount} was paid ({data['reference']})."
        return (f"Payout of {amount} failed",
                f"Payout {data['payout_id']} of {amount} failed: {data['reason']}\n"
                "The money is back on your balance; check your payout account and request it again.")
    if event in (Event.LISTING_APPROVED, Event.LISTING_REJECTED):
        listing, decided = data["listing"], "approved" if event is Event.LISTING_APPROVED else "rejected"
        said = f"Version {data['version']} of {listing['title']} ({listing['slug']}) was {decided}."
        return f"{listing['title']} {data['version']} {decided}", said + (
            f"\nReason: {data['reason']}" if data.get("reason") else "")
    if event is Event.ALERT_REJECTED:
        order = data["order"]
        tripped = "\nThe kill switch is now on: re-arm it to trade again." if data.get("kill_switch_tripped") else ""
        return (f"Alert refused by a risk limit on {data['account']['name']}",
                f"Alert {data['alert_id']} to hook {data['hook']['name']} asked to {order['side']} "
                f"{order['quantity']} {order['symbol']} and was refused:\n{data['reason']}{tripped}")
    return "Test notification", str(data.get("text") or "This is a test of your alphabook notifications.")
