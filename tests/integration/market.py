"""A marketplace driven through its HTTP API the way people use it: creator, buyers and an admin, each
with their own API key, against a real database and the real sandbox; and listings written directly, for
tests about what happens after a listing exists."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

from alphabook.accounts import service
from alphabook.accounts.models import ApiScope, User
from alphabook.core.clock import utcnow
from alphabook.core.db import Database
from alphabook.marketplace.models import Listing, ListingVersion

API = "/services/api/api"
SMA = ("def indicator(df, length=20):\n"
       "    return df['close'].rolling(length).mean()\n")
SMA_SCHEMA = [{"name": "length", "type": "int", "default": 20, "minimum": 2, "maximum": 500}]
CROSS = ("def indicator(df, fast=10, slow=30):\n"
         "    f = df['close'].rolling(fast).mean()\n"
         "    s = df['close'].rolling(slow).mean()\n"
         "    up = (f > s) & (f.shift(1) <= s.shift(1))\n"
         "    down = (f < s) & (f.shift(1) >= s.shift(1))\n"
         "    return {'entries': up, 'exits': down}\n")
CROSS_SCHEMA = [{"name": "fast", "type": "int", "default": 10, "minimum": 2, "maximum": 100},
                {"name": "slow", "type": "int", "default": 30, "minimum": 3, "maximum": 400}]


def make_listing(session: Session, creator: User, name: str, price: int, kind: str = "indicator") -> Listing:
    """An approved, protected listing with one approved version, written straight to the database."""
    now = utcnow()
    listing = Listing(slug=f"{creator.name}/{name}", creator_id=creator.id, kind=kind, title=name.title(),
                      description="", category="trend", tags=[], price_minor=price, currency="USD",
                      licence="protected", status="approved", created_at=now, updated_at=now)
    listing.versions.append(ListingVersion(version="1.0.0", major=1, minor=0, patch=0,
                                           code="def indicator(df):\n    return df['close']\n", parameter_schema=[],
                                           status="approved", report={"ok": True}, active=True, created_at=now))
    session.add(listing)
    session.flush()
    return listing


def key_for(database: Database, name: str, roles: list[str] | None = None) -> dict[str, str]:
    with database.session() as session:
        user = service.ensure_user(session, name, roles=roles or ["user"], email=f"{name}@example.org")
        _, secret = service.create_api_key(session, user, name="test", scopes=[ApiScope.READ, ApiScope.WRITE],
                                           expires_in_days=1)
    return {"Authorization": f"Bearer {secret}"}


def ok(reply: Response, status: int = 200) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


def problem(reply: Response, status: int, fragment: str = "") -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = reply.json()
    assert fragment in body["detail"], body["detail"]
    return body


@dataclass
class Market:
    client: TestClient
    database: Database
    creator: dict[str, str] = field(default_factory=dict)
    admin: dict[str, str] = field(default_factory=dict)

    def user(self, name: str, roles: list[str] | None = None) -> dict[str, str]:
        return key_for(self.database, name, roles)

    def publish(self, name: str, *, price_minor: int = 1999, licence: str = "protected", code: str = SMA,
                schema: list[dict[str, Any]] | None = None, kind: str = "indicator", approve: bool = True,
                creator: dict[str, str] | None = None, tags: list[str] | None = None) -> str:
        """Create, version, submit and (by default) approve a listing; returns its slug."""
        who = creator or self.creator
        listing = ok(self.client.post(f"{API}/listings", headers=who, json={
            "name": name, "kind": kind, "title": f"{name.title()} indicator", "description": f"# {name}\nA *test*.",
            "category": "trend", "tags": tags or ["test"], "price": {"amount_minor": price_minor, "currency": "USD"},
            "licence": licence}), 201)
        slug = listing["slug"]
        version = ok(self.client.post(f"{API}/listings/{slug}/versions", headers=who, json={
            "version": "1.0.0", "code": code, "parameter_schema": SMA_SCHEMA if schema is None else schema,
            "changelog": "first"}), 201)
        assert version["report"]["ok"], version["report"]
        ok(self.client.post(f"{API}/listings/{slug}/submit", headers=who))
        if approve:
            ok(self.client.post(f"{API}/admin/listings/{slug}/approve", headers=self.admin, json={"reason": "ok"}))
        return str(slug)

    def buy(self, slug: str, buyer: dict[str, str], **headers: str) -> dict[str, Any]:
        reply = self.client.post(f"{API}/listings/{slug}/purchase", headers={**buyer, **headers})
        result: dict[str, Any] = ok(reply, 201)
        return result
