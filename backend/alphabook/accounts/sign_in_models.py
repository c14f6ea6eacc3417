"""Tables of the sign-in extras: e-mailed sign-in links, TOTP second factors and their recovery codes.

Nothing secret is stored readable: a link's token and each recovery code only as SHA-256 digests (both are long
random values, so a fast digest is enough), and a TOTP seed encrypted with the installation's Fernet key
(:mod:`alphabook.core.secrets_at_rest`), because the server must read it back to check codes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from alphabook.core.db import Base
from alphabook.core.secrets_at_rest import ENCRYPTED


class MagicLink(Base):
    """One e-mailed sign-in link; ``used_at`` is set by the one request that consumed it."""

    __tablename__ = "magic_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    sent_to: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class TotpFactor(Base):
    """A person's authenticator app; enrolment is finished once ``confirmed_at`` is set by a first right code."""

    __tablename__ = "totp_factors"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    secret: Mapped[str] = mapped_column(Text, info=ENCRYPTED)
    created_at: Mapped[datetime]
    confirmed_at: Mapped[datetime | None]
    #: The time step of the last code accepted: a code of that step or an earlier one is a replay.
    last_used_step: Mapped[int | None]
    failed_attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]


class RecoveryCode(Base):
    """A single-use code that stands in for the authenticator app (a lost phone)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
