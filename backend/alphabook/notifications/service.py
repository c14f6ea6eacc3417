"""Notifications' verbs: record what someone should hear (:func:`notify`), and read or change their choices.

:func:`notify` is called by the domain code where an event happens (a sale, a payout, a moderation decision, a
refused alert, a finished run), inside that code's transaction: it only writes delivery rows for the channels the
person chose, so nothing is sent for an action that rolls back, and the action never waits for a mail server.
The courier (:mod:`alphabook.notifications.delivery`) sends the rows after the commit, claiming them with
:func:`claim_due` and recording each outcome with :func:`settle`: this module is the only one that writes the
notification tables.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.errors import InvalidInput, TemporaryError
from alphabook.core.secrets_at_rest import cipher_for
from alphabook.core.webhook_signatures import new_secret
from alphabook.notifications import outgoing
from alphabook.notifications.events import DEFAULT_EMAIL, Event
from alphabook.notifications.models import Channel, DeliveryStatus, NotificationDelivery, NotificationPreferences

__all__ = ["RECORDED", "Choices", "Due", "choices_of", "claim_due", "notify", "recent_deliveries",
           "rotate_webhook_secret", "send_test", "settle", "update_choices", "webhook_secret"]

log = logging.getLogger(__name__)
RECORDED = "alphabook.notifications.recorded"  # session.info flag: deliveries were written (wakes the courier)


@dataclass(frozen=True, slots=True)
class Choices:
    """A person's preferences as they apply now (the defaults when they never chose)."""

    email: str | None  # where e-mails go: the chosen address, else the account's, else nowhere
    own_email: str | None  # the address chosen here (None: the account's)
    email_events: frozenset[Event]
    webhook_events: frozenset[Event]
    webhook_url: str | None
    has_webhook_secret: bool
    chosen: bool  # False: these are the defaults

    def targets(self, event: Event) -> list[tuple[Channel, str]]:
        """(channel, recipient) for each channel that should carry ``event``."""
        found: list[tuple[Channel, str]] = []
        if self.email and event in self.email_events:
            found.append((Channel.EMAIL, self.email))
        if self.webhook_url and event in self.webhook_events:
            found.append((Channel.WEBHOOK, self.webhook_url))
        return found


def _events(names: Iterable[str]) -> frozenset[Event]:
    known = {event.value for event in Event.choices()}
    return frozenset(Event(name) for name in names if name in known)  # a retired name is simply dropped


def choices_of(session: Session, user: User) -> Choices:
    row = session.get(NotificationPreferences, user.id)
    if row is None:
        return Choices(email=user.email, own_email=None, email_events=DEFAULT_EMAIL if user.email else frozenset(),
                       webhook_events=frozenset(), webhook_url=None, has_webhook_secret=False, chosen=False)
    return Choices(email=row.email or user.email, own_email=row.email, email_events=_events(row.email_events),
                   webhook_events=_events(row.webhook_events), webhook_url=row.webhook_url,
                   has_webhook_secret=row.webhook_secret_ciphertext is not None, chosen=True)


def _row(session: Session, user: User) -> NotificationPreferences:
    row = session.get(NotificationPreferences, user.id)
    if row is None:
        current = choices_of(session, user)
        row = NotificationPreferences(user_id=user.id, email=None, email_events=sorted(current.email_events),
                                      webhook_events=[], webhook_url=None, webhook_secret_ciphertext=None,
                                      updated_at=utcnow())
        session.add(row)
    return row


def update_choices(session: Session, settings: Settings, user: User, changes: dict[str, Any]) -> tuple[Choices,
                                                                                                       str | None]:
    """Apply ``changes`` (any of ``email``, ``email_events``, ``webhook_events``, ``webhook_url``, already
    validated in shape by the API schema); returns the new choices and, when a webhook URL was set where there was
    none, its new signing secret, which is shown this once (changing the URL keeps the secret; clearing it drops
    the secret)."""
    row = _row(session, user)
    if changes.get("webhook_url"):
        try:
            outgoing.check(changes["webhook_url"], settings)
        except TemporaryError as error:  # when saving, a name that does not resolve is most likely mistyped
            raise InvalidInput(f"{error.detail} Check the address.") from error
    for name in ("email", "webhook_url"):
        if name in changes:
            setattr(row, name, changes[name] or None)
    for name in ("email_events", "webhook_events"):
        if name in changes:
            setattr(row, name, sorted(event.value for event in _events(changes[name])))
    if row.webhook_events and not row.webhook_url:
        raise InvalidInput("Give a webhook URL to receive events by webhook (or choose none).")
    secret = None
    if row.webhook_url is None:  # a webhook set again later gets a new secret, shown then
        row.webhook_secret_ciphertext = None
    elif row.webhook_secret_ciphertext is None:
        secret = _new_secret(settings, row)
    row.updated_at = utcnow()
    audit.record(session, actor=user.name, action="notifications.preferences_changed", subject=f"user:{user.id}",
                 email_events=row.email_events, webhook_events=row.webhook_events, webhook_url=row.webhook_url,
                 own_email=row.email is not None)
    session.flush()
    return choices_of(session, user), secret


def _new_secret(settings: Settings, row: NotificationPreferences) -> str:
    secret = new_secret()
    row.webhook_secret_ciphertext = cipher_for(settings).encrypt(secret)
    return secret


def rotate_webhook_secret(session: Session, settings: Settings, user: User) -> str:
    """A new signing secret, shown this once; webhooks sent from now on (retries too) are signed with it."""
    row = session.get(NotificationPreferences, user.id)
    if row is None or not row.webhook_url:
        raise InvalidInput("Set a webhook URL first; its signing secret comes with it.")
    secret = _new_secret(settings, row)
    row.updated_at = utcnow()
    audit.record(session, actor=user.name, action="notifications.webhook_secret_rotated", subject=f"user:{user.id}")
    return secret


def webhook_secret(session: Session, settings: Settings, user_id: int) -> str | None:
    """The person's current signing secret, decrypted (for the courier only)."""
    row = session.get(NotificationPreferences, user_id)
    if row is None or row.webhook_secret_ciphertext is None:
        return None
    return cipher_for(settings).decrypt(row.webhook_secret_ciphertext)


def _record(session: Session, user_id: int, event: Event, data: dict[str, Any],
            targets: list[tuple[Channel, str]]) -> list[NotificationDelivery]:
    now = utcnow()
    rows = [NotificationDelivery(user_id=user_id, event=event.value, channel=channel.value, recipient=recipient,
                                 payload=data, status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=now,
                                 claimed_until=None, last_error=None, created_at=now, updated_at=now, sent_at=None)
            for channel, recipient in targets]
    session.add_all(rows)
    if rows:
        session.info[RECORDED] = True
    return rows


def notify(session: Session, user_id: int | None, event: Event, data: dict[str, Any]) -> None:
    """Owe ``user_id`` a message about ``event`` on each channel they chose, in ``session``'s transaction.

    Never raises: telling someone about an action must not undo the action. A failure here (a bug, a bad value in
    ``data``) is logged and rolled back to a savepoint, and the caller's work carries on."""
    if user_id is None:  # an anonymous demo account's alert: nobody to tell
        return
    try:
        with session.begin_nested():
            user = session.get(User, user_id)
            if user is not None:
                _record(session, user_id, event, data, choices_of(session, user).targets(event))
                session.flush()
    except Exception:
        log.exception("could not record the %s notification for user %s; the action goes on", event, user_id)


def send_test(session: Session, user: User, channels: Iterable[Channel] | None = None) -> list[NotificationDelivery]:
    """Owe the person a test message on ``channels`` (default: every channel they have set up)."""
    current = choices_of(session, user)
    available = {Channel.EMAIL: current.email, Channel.WEBHOOK: current.webhook_url}
    wanted = list(channels) if channels is not None else [each for each, to in available.items() if to]
    if not wanted:
        raise InvalidInput("You have no channel to test: add an e-mail address or a webhook URL first.")
    missing = [each.value for each in wanted if not available[each]]
    if missing:
        raise InvalidInput(f"You have not set up {' or '.join(missing)} yet; add its address first.")
    data = {"text": f"Hello {user.name}: this is a test of your alphabook notifications. They work.",
            "user": user.name}
    rows = _record(session, user.id, Event.TEST, data, [(each, str(available[each])) for each in wanted])
    session.flush()
    return rows


def recent_deliveries(session: Session, user: User, limit: int = 50) -> list[NotificationDelivery]:
    """The person's deliveries, newest first."""
    return list(session.scalars(select(NotificationDelivery).where(NotificationDelivery.user_id == user.id)
                                .order_by(NotificationDelivery.id.desc()).limit(limit)))


# --- the courier's side ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed delivery and what sending it needs, read in the claim's transaction."""

    id: int
    user_id: int
    event: Event
    channel: Channel
    recipient: str
    payload: dict[str, Any]
    attempts: int  # tries so far, this one included
    created_at: datetime


def claim_due(session: Session, *, lease: timedelta, batch: int) -> list[Due]:
    """Take up to ``batch`` deliveries that are due and not held by another courier, for ``lease``.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets couriers in several processes share the work without waiting;
    SQLite: the transaction's ``BEGIN IMMEDIATE`` makes the claim atomic."""
    now = utcnow()
    query = (select(NotificationDelivery)
             .where(NotificationDelivery.status == DeliveryStatus.PENDING.value,
                    NotificationDelivery.next_attempt_at <= now,
                    or_(NotificationDelivery.claimed_until.is_(None), NotificationDelivery.claimed_until < now))
             .order_by(NotificationDelivery.id).limit(batch).with_for_update(skip_locked=True))
    claimed = []
    for row in session.scalars(query):
        row.attempts += 1
        row.claimed_until, row.updated_at = now + lease, now
        claimed.append(Due(id=row.id, user_id=row.user_id, event=Event(row.event), channel=Channel(row.channel),
                           recipient=row.recipient, payload=row.payload, attempts=row.attempts,
                           created_at=row.created_at))
    return claimed


def settle(session: Session, delivery_id: int, *, error: str | None, retry_at: datetime | None) -> None:
    """Record a try: sent (``error`` None), to be tried again at ``retry_at``, or failed for good."""
    row = session.get(NotificationDelivery, delivery_id)
    if row is None:  # its person was deleted meanwhile
        return
    now = utcnow()
    row.claimed_until, row.updated_at, row.last_error = None, now, error
    if error is None:
        row.status, row.sent_at = DeliveryStatus.SENT.value, now
    elif retry_at is not None:
        row.next_attempt_at = retry_at
    else:
        row.status = DeliveryStatus.FAILED.value
