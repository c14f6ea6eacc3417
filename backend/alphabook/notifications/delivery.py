"""The courier: sends the deliveries :func:`~alphabook.notifications.service.notify` recorded, after their commit.

E-mails go through :func:`alphabook.core.mail.send_email` (smtplib); webhooks are POSTed as
``{"type", "timestamp", "data"}`` signed the Standard Webhooks way with the person's secret
(:mod:`alphabook.notifications.outgoing`), with ``webhook-id`` ``ntf_<delivery id>`` on every try so receivers
can drop repeats. A failed try is retried after ``notifications_backoff_seconds``, doubling up to an hour, until
``notifications_max_attempts``; then the delivery is ``failed`` with the last error, which its owner sees.
What cannot succeed by retrying (no SMTP server configured, a webhook address the server refuses) fails at once.

Where it runs: a daemon thread of every API process (:class:`Courier`, started by the app's lifespan unless
``notifications_in_api`` is off). The API runs in every deployment (the embedded hub service, a compose
container, a pod), most events happen in its requests (sales, payouts, moderation, alerts), and a commit there
wakes the thread at once, so mail leaves within moments without the request waiting for it. Events recorded by
other processes (the scheduler's finished runs, ``alphabook payouts run``) are found by polling every
``notifications_poll_seconds``. Claims are leased rows (:func:`~alphabook.notifications.service.claim_due`), so
several API processes share the work and a courier that dies mid-send leaves its rows to the others. Tests drive
it the same way: through the real app's lifespan, or :func:`deliver_pending` for one round.
"""

from __future__ import annotations

import logging
import threading
import weakref
from datetime import datetime, timedelta

import httpx
from sqlalchemy import event
from sqlalchemy.orm import Session

from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.errors import ConfigurationError, TemporaryError
from alphabook.core.mail import send_email
from alphabook.notifications import outgoing, service
from alphabook.notifications.events import message
from alphabook.notifications.models import Channel

__all__ = ["Courier", "deliver_pending"]

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=2)  # longer than the slowest try: SMTP's 20 s timeout, or the webhook's
BACKOFF_CAP_SECONDS = 3600.0


class _Final(Exception):
    """A try that retrying cannot fix."""


def deliver_pending(database: Database, settings: Settings, *, batch: int = 20) -> int:
    """One round: claim the due deliveries (at most ``batch``), send them, record each outcome; how many."""
    with database.session() as session:
        claimed = service.claim_due(session, lease=LEASE, batch=batch)
        secrets = {due.user_id: _secret(session, settings, due.user_id)
                   for due in claimed if due.channel is Channel.WEBHOOK}
    for due in claimed:
        error, retry_at = None, None
        try:
            _send(due, secrets.get(due.user_id), settings)
        except _Final as final:
            error = str(final)
        except Exception as failure:  # anything else may pass: try again later, up to the limit
            error = str(failure) or type(failure).__name__
            retry_at = _retry_at(due.attempts, settings)
        if error is not None:
            log.info("notification %s (%s to %s), try %s: %s", due.id, due.channel, due.recipient, due.attempts,
                     error)
        with database.session() as session:
            service.settle(session, due.id, error=error, retry_at=retry_at)
    return len(claimed)


def _secret(session: Session, settings: Settings, user_id: int) -> str | ConfigurationError | None:
    """The person's signing secret; an undecryptable one (a Fernet key removed too early) waits for the operator
    as a retried failure instead of stopping the whole round."""
    try:
        return service.webhook_secret(session, settings, user_id)
    except ConfigurationError as error:
        return error


def _retry_at(attempts: int, settings: Settings) -> datetime | None:
    if attempts >= settings.notifications_max_attempts:
        return None
    delay = min(BACKOFF_CAP_SECONDS, settings.notifications_backoff_seconds * 2.0 ** (attempts - 1))
    return utcnow() + timedelta(seconds=delay)


def _send(due: service.Due, secret: str | ConfigurationError | None, settings: Settings) -> None:
    if due.channel is Channel.EMAIL:
        if not settings.smtp_host:
            raise _Final("not sent: no SMTP server is configured (ALPHABOOK_SMTP_HOST)")
        subject, text = message(due.event, due.payload)
        footer = f"\n\n--\nChoose what alphabook tells you: {settings.base_url}/services/dashboards/notifications"
        said = send_email(due.recipient, subject, text + footer, settings)
        if said != f"e-mail sent to {due.recipient}":  # send_email reports in words and never raises
            raise TemporaryError(said)
        return
    if secret is None:
        raise _Final("not sent: the webhook has no signing secret any more (it was removed)")
    if isinstance(secret, ConfigurationError):
        raise TemporaryError(f"not sent: {secret.detail}")
    envelope = {"type": due.event.value, "timestamp": due.created_at.isoformat(), "data": due.payload}
    try:
        reply = outgoing.post(due.recipient, secret, envelope, settings, message_id=f"ntf_{due.id}")
    except outgoing.UnsafeTarget as refused:
        raise _Final(refused.detail) from refused
    except httpx.HTTPError as failure:
        raise TemporaryError(f"webhook {due.recipient} failed: {failure}") from failure
    if not reply.is_success:
        raise TemporaryError(f"webhook {due.recipient} answered {reply.status_code}")


# --- the thread ----------------------------------------------------------------------------------------------

_running: weakref.WeakSet[Courier] = weakref.WeakSet()  # this process's couriers, woken by commits


@event.listens_for(Session, "after_commit")
def _wake_couriers(session: Session) -> None:
    """Deliveries committed in this process are sent now rather than at the next poll."""
    if session.info.pop(service.RECORDED, False):
        for courier in list(_running):
            courier.wake()


@event.listens_for(Session, "after_rollback")
def _forget_recorded(session: Session) -> None:
    session.info.pop(service.RECORDED, None)


class Courier:
    """:func:`deliver_pending` in a loop on a daemon thread: woken by this process's commits, else polling."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stop.clear()
        _running.add(self)
        self._thread = threading.Thread(target=self._loop, name="notification-courier", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        _running.discard(self)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            handled = 0
            try:
                handled = deliver_pending(self.database, self.settings)
            except Exception:  # the database went away for a moment: the next round tries again
                log.exception("notification round failed")
            if not handled:
                self._wake.wait(self.settings.notifications_poll_seconds)
