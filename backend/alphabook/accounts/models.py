"""Tables of the accounts domain: people (mirrored from the hub), their passwords and API keys."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alphabook.core.db import Base


class Role(StrEnum):
    """What a person may do; hub admins are admins, members of the hub group ``creators`` are creators."""

    USER = "user"
    CREATOR = "creator"
    ADMIN = "admin"


class ApiScope(StrEnum):
    """What an API key may do: ``read`` covers safe requests, ``write`` everything that changes state."""

    READ = "read"
    WRITE = "write"


class User(Base):
    """A hub user as alphabook knows them; ``roles`` is refreshed from the hub on every sign-in."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    roles: Mapped[list[str]]
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None]

    password: Mapped[Password | None] = relationship(
        back_populates="user", cascade="all, delete-orphan", uselist=False
    )

    def has_role(self, role: str) -> bool:
        return role in self.roles


class Password(Base):
    """A password login for the hub's authenticator, with its failed-attempt lockout state."""

    __tablename__ = "passwords"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    hash: Mapped[str] = mapped_column(String(255))
    changed_at: Mapped[datetime]
    failed_attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="password")


class ApiKey(Base):
    """A long-lived key for scripts; only its SHA-256 digest and a short prefix are stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()
