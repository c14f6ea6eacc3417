"""Sign-in links sent by e-mail: single use, short-lived, and silent about which accounts exist.

The token is 32 random bytes (``secrets.token_urlsafe``) and only its SHA-256 digest is stored, so a copy of the
database signs nobody in. A link is spent by one conditional UPDATE (``used_at IS NULL AND expires_at > now``),
so two clicks at the same moment sign in once. Asking for a link answers the same whether or not an account
matches, and an account is sent at most a few links an hour. The e-mail itself goes out through
:func:`alphabook.core.mail.send_email`. This module is the only writer of ``magic_links``; every link sent,
throttled and used is audited.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from alphabook.accounts.models import Password, User
from alphabook.accounts.sign_in_models import MagicLink
from alphabook.core import audit
from alphabook.core.clock import as_utc, utcnow
from alphabook.core.config import Settings
from alphabook.core.errors import Unauthenticated
from alphabook.core.mail import send_email

__all__ = ["IssuedLink", "LinkState", "consume", "inspect", "refusal", "request_links", "send"]


class LinkState(StrEnum):
    """What a link is, when someone opens it."""

    VALID = "valid"
    USED = "used"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class IssuedLink:
    """A link ready to be e-mailed; ``url`` carries the token, which is never stored."""

    user_name: str
    email: str
    url: str
    expires_at: datetime


def request_links(session: Session, identifier: str, settings: Settings, link_base: str) -> list[IssuedLink]:
    """Links for the password accounts that ``identifier`` (a username or an e-mail address) names.

    Empty when nothing matches, when the account has no e-mail address, or when it was sent
    ``settings.magic_links_per_hour`` links in the last hour: the caller answers the same in every case.
    """
    now = utcnow()
    issued = []
    for user in _accounts_for(session, identifier.strip()):
        assert user.email is not None
        if _sent_in_the_last_hour(session, user, now) >= settings.magic_links_per_hour:
            audit.record(session, actor=user.name, action="user.magic_link_throttled", subject=f"user:{user.name}")
            continue
        token = secrets.token_urlsafe(32)
        expires_at = now + timedelta(minutes=settings.magic_link_minutes)
        session.add(MagicLink(user_id=user.id, digest=_digest(token), sent_to=user.email, created_at=now,
                              expires_at=expires_at))
        audit.record(session, actor=user.name, action="user.magic_link_sent", subject=f"user:{user.name}",
                     sent_to=user.email, expires_at=expires_at.isoformat())
        issued.append(IssuedLink(user_name=user.name, email=user.email, url=f"{link_base.rstrip('/')}/{token}",
                                 expires_at=expires_at))
    session.flush()
    return issued


def send(link: IssuedLink, settings: Settings) -> str:
    """E-mail the link; returns what happened, in words, for the hub's log."""
    text = (
        f"Hello {link.user_name},\n\n"
        f"Someone (we hope you) asked to sign in to alphabook as '{link.user_name}'. Open this link to sign in:\n\n"
        f"    {link.url}\n\n"
        f"It works once, until {link.expires_at:%H:%M} UTC ({settings.magic_link_minutes} minutes). "
        "If you did not ask for it, ignore this e-mail: nobody can use your account without the link.\n"
    )
    return send_email(link.email, "Your alphabook sign-in link", text, settings)


def inspect(session: Session, token: str) -> LinkState:
    """What opening the link would do, without spending it (e-mail scanners open links too)."""
    link = session.scalar(select(MagicLink).where(MagicLink.digest == _digest(token)))
    if link is None:
        return LinkState.UNKNOWN
    if link.used_at is not None:
        return LinkState.USED
    return LinkState.EXPIRED if as_utc(link.expires_at) <= utcnow() else LinkState.VALID


def consume(session: Session, token: str) -> str:
    """Spend the link and return the name of the account it signs in; raises :class:`Unauthenticated` saying
    why a link cannot be used (unknown, already used, expired)."""
    now = utcnow()
    digest = _digest(token)
    spent = session.execute(
        update(MagicLink)
        .where(MagicLink.digest == digest, MagicLink.used_at.is_(None), MagicLink.expires_at > now)
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    link = session.scalar(select(MagicLink).where(MagicLink.digest == digest))
    if spent.rowcount != 1 or link is None:  # type: ignore[attr-defined]
        raise Unauthenticated(refusal(inspect(session, token)))
    user = session.get(User, link.user_id)
    assert user is not None  # the foreign key cascades: a deleted account takes its links with it
    audit.record(session, actor=user.name, action="user.magic_link_used", subject=f"user:{user.name}")
    return user.name


def refusal(state: LinkState) -> str:
    """The sentence shown for a link that cannot sign anyone in."""
    if state is LinkState.USED:
        return "This sign-in link was already used: each link works once. Ask for a new one below."
    if state is LinkState.EXPIRED:
        return "This sign-in link has expired. Ask for a new one below; it works for a few minutes."
    return "This sign-in link is not valid: copy the whole link from the e-mail, or ask for a new one below."


def _accounts_for(session: Session, identifier: str) -> list[User]:
    """Password accounts with an e-mail address, by name or by address (case-insensitive)."""
    matching = func.lower(User.email) == identifier.lower() if "@" in identifier else User.name == identifier.lower()
    query = select(User).join(Password, Password.user_id == User.id).where(User.email.is_not(None), matching)
    return list(session.scalars(query.order_by(User.id)))


def _sent_in_the_last_hour(session: Session, user: User, now: datetime) -> int:
    query = select(func.count()).where(MagicLink.user_id == user.id, MagicLink.created_at > now - timedelta(hours=1))
    return int(session.scalar(query) or 0)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
