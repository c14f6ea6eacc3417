"""Copy trading under real concurrency, on every backend: threads with their own sessions and connections,
released together by a barrier.

* One follower subscribes to a paid provider from eight threads at once: one subscription, one charge, one
  ledger transaction; every other thread is told it already follows (a double click pays once).
* The renewal job runs in eight threads at once when the month is over: the next month is charged once.

The data is committed (the threads must see each other's work), so every name carries a fresh suffix.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from alphabook.core import clock
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.errors import Conflict
from alphabook.payments.models import LedgerEntry
from alphabook.trading.copy import billing, subscriptions
from alphabook.trading.copy.models import CopyCharge, SignalProvider, Subscription
from alphabook.trading.copy.subscriptions import CopyRules
from tests.integration.copy_support import LOCAL, approved_provider, paper_account, person

T = TypeVar("T")
THREADS = 8


@pytest.fixture
def threads_db(database: Database) -> Iterator[Database]:
    db = Database(database.url, pool_size=THREADS + 2, max_overflow=0, pool_timeout=60)
    try:
        yield db
    finally:
        db.dispose()


def _together(work: Callable[[], T]) -> list[T | Exception]:
    barrier = threading.Barrier(THREADS)

    def run() -> T | Exception:
        barrier.wait()
        try:
            return work()
        except Exception as exc:  # what each thread was told is part of the result
            return exc

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(lambda _: run(), range(THREADS)))


def test_a_double_click_subscribes_and_pays_once(threads_db: Database, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    with threads_db.session() as session:
        provider, _ = approved_provider(session, settings, price_minor=1999)
        follower = person(session, "clicker")
        account = paper_account(session, follower)
        ids = (provider.id, follower.id, account.id)

    def subscribe() -> int:
        with threads_db.session() as session:
            found = session.get(SignalProvider, ids[0])
            user = session.get(type(follower), ids[1])
            assert found is not None and user is not None
            return subscriptions.subscribe(session, settings, LOCAL, user, found, ids[2], CopyRules()).id

    results = _together(subscribe)
    made = [result for result in results if isinstance(result, int)]
    assert len(made) == 1, results
    assert all(isinstance(result, Conflict) for result in results if not isinstance(result, int)), results
    with threads_db.session() as session:
        charges = session.scalars(select(CopyCharge).where(CopyCharge.provider_id == ids[0])).all()
        assert len(charges) == 1
        assert session.scalar(select(func.count()).select_from(LedgerEntry)
                              .where(LedgerEntry.txn == charges[0].ledger_txn)) == 3


def test_renewals_running_at_once_charge_the_month_once(threads_db: Database, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    with threads_db.session() as session:
        provider, _ = approved_provider(session, settings, price_minor=500)
        follower = person(session, "renewer")
        account = paper_account(session, follower)
        subscription = subscriptions.subscribe(session, settings, LOCAL, follower, provider, account.id, CopyRules())
        ids = (provider.id, subscription.id)
        due = subscription.paid_until
    assert due is not None

    def renew() -> int:
        with threads_db.session() as session:
            return sum(1 for charge in billing.renew_due(session, settings, LOCAL) if charge.provider_id == ids[0])

    with clock.frozen(due + timedelta(minutes=1)):
        results = _together(renew)
    assert sorted(result for result in results if isinstance(result, int)) == [0] * (THREADS - 1) + [1], results
    with threads_db.session() as session:
        assert len(session.scalars(select(CopyCharge).where(CopyCharge.subscription_id == ids[1])).all()) == 2
        renewed = session.get(Subscription, ids[1])
        assert renewed is not None and renewed.paid_until is not None and renewed.paid_until > due
