"""API shapes of the accounts domain (pydantic at the edge; the ORM rows never leave the service)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from alphabook.accounts.models import ApiScope


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    email: str | None
    roles: list[str]
    created_at: datetime
    last_seen_at: datetime | None


class ApiKeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="What the key is for, e.g. 'backtest cron'.")
    scopes: list[ApiScope] = Field(
        default=[ApiScope.READ], min_length=1, description="'read' for safe requests, 'write' for changes."
    )
    expires_in_days: int | None = Field(
        default=90, ge=1, le=3650, description="Days until the key stops working; null for never."
    )


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str = Field(description="Shown so you can tell keys apart; the full key is never shown again.")
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret key. Copy it now: it is not stored and cannot be shown again.")


class EraseIn(BaseModel):
    confirm: str = Field(description="Your user name, to confirm that everything personal is to be erased.")
