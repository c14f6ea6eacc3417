"""The platform's own job notebooks (notebooks/jobs/) on every database backend, run exactly as the scheduler runs
them: an administrator's platform job, queued with "run now" and executed by the scheduler with papermill in the
``python3`` kernel, the notebook finding the database through the ALPHABOOK_* variables the scheduler passes on.
Each test seeds just enough real data through the domain services and checks the job's effect in the database.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from alphabook.accounts import service
from alphabook.accounts.models import User
from alphabook.core import audit, clock
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.money import Money
from alphabook.payments import ledger, payouts
from alphabook.payments.models import Payout, PayoutStatus
from alphabook.scheduler import jobs
from alphabook.scheduler.models import FINISHED, Run, RunStatus
from alphabook.scheduler.worker import Scheduler
from alphabook.trading import accounts
from alphabook.trading.copy import flags, metrics
from alphabook.trading.copy.models import FlagKind, ProviderMetric, ProviderVerification, SignalProvider
from alphabook.trading.copy.providers import Claims
from alphabook.trading.models import AccountStatus, TradingAccount
from tests.integration.copy_support import LOCAL, approved_provider, fill, follow, place

pytestmark = pytest.mark.db

TODAY: datetime  # 9:00 UTC today, and the day before: set as each test starts
YESTERDAY: date


@pytest.fixture(autouse=True)
def today_as_the_test_starts() -> None:
    """The jobs take "yesterday" from the clock when they run: a suite that runs across midnight (UTC) must not
    compare them with the day the module was imported on, as it did when these were set at import."""
    global TODAY, YESTERDAY
    TODAY = datetime.combine(utcnow().date(), time(9), tzinfo=UTC)
    YESTERDAY = TODAY.date() - timedelta(days=1)


@pytest.fixture
def platform(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, User]:
    """Settings for this database, the same in the scheduler's environment (passed on to platform notebooks),
    and an administrator to own the jobs."""
    settings = Settings(home=tmp_path, database_url=database.url, isolation="none")
    monkeypatch.setenv("ALPHABOOK_HOME", str(tmp_path))
    monkeypatch.setenv("ALPHABOOK_DATABASE_URL", database.url)
    monkeypatch.setenv("ALPHABOOK_ISOLATION", "none")
    name = f"jobadmin{secrets.token_hex(3)}"
    with database.session() as session:
        admin = service.ensure_user(session, name, roles=["user", "admin"], email=f"{name}@example.org")
        session.expunge(admin)
    return settings, admin


def run_platform_job(database: Database, platform: tuple[Settings, User], notebook: str,
                     **parameters: Any) -> Run:
    """Create the platform job, run it now and let the scheduler execute it; the finished run, which succeeded."""
    settings, admin = platform
    with database.session() as session:
        owner = session.get(User, admin.id)
        assert owner is not None
        job = jobs.create_job(session, owner, {"name": f"{notebook.removesuffix('.ipynb')}-{secrets.token_hex(3)}",
                                               "platform": notebook, "cron": "0 0 1 1 *", "parameters": parameters},
                              settings)
        run_id = jobs.run_now(session, owner, job).id
    scheduler = Scheduler(settings, database)
    for _ in range(20):  # other tests' runs may be queued in the shared database too: work until ours is done
        with database.session() as session:
            run = session.get(Run, run_id)
            assert run is not None
            if run.status in FINISHED:
                break
        if scheduler.work_once() is None:
            break
    with database.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        session.expunge(run)
    assert run.status == RunStatus.SUCCEEDED, f"{notebook}: {run.status}: {run.error}\n{(run.log or '')[-3000:]}"
    return run


def _provider(database: Database, settings: Settings, trades: list[tuple[str, str, str]], *, cash: str = "1000",
              claims: Claims | None = None) -> int:
    """An approved provider whose account traded ``trades`` (side, quantity, price), one a day, ending yesterday."""
    start = TODAY - timedelta(days=len(trades))
    with database.session() as session, clock.frozen(start) as now:
        provider, account = approved_provider(session, settings, cash=cash, claims=claims)
        for side, quantity, price in trades:
            fill(session, place(session, account, side, quantity), price)
            now.advance(timedelta(days=1))
        return provider.id


def test_provider_metrics_are_computed_and_stored_through_yesterday(database: Database,
                                                                    platform: tuple[Settings, User]) -> None:
    settings, _ = platform
    provider_id = _provider(database, settings, [("buy", "1", "100"), ("sell", "1", "110"), ("buy", "1", "110"),
                                                 ("sell", "1", "99")])
    run_platform_job(database, platform, "provider-metrics.ipynb")
    with database.session() as session:
        rows = list(session.scalars(select(ProviderMetric).where(ProviderMetric.provider_id == provider_id)
                                    .order_by(ProviderMetric.day)))
        provider = session.get(SignalProvider, provider_id)
        assert provider is not None
        assert [row.day for row in rows] == [YESTERDAY - timedelta(days=n) for n in (3, 2, 1, 0)]
        assert [row.equity_minor for row in rows] == [100_000, 101_000, 101_000, 99_900]
        assert [row.total_return_bp for row in rows] == [0, 100, 100, -10]
        assert [row.win_rate_bp for row in rows] == [None, 10_000, 10_000, 5000]
        assert (provider.return_bp, provider.max_drawdown_bp, provider.trades) == (-10, 109, 2)
        [entry] = [each for each in audit.entries(session, subject=f"copy_provider:{provider_id}")
                   if each.action == "copy.provider.metrics_updated"]
        assert entry.actor == "job:provider-metrics" and entry.data["through"] == YESTERDAY.isoformat()


def test_provider_flags_flag_an_underperformer_under_the_current_thresholds(database: Database,
                                                                           platform: tuple[Settings, User],
                                                                           tmp_path: Path) -> None:
    settings, _ = platform
    loser = _provider(database, settings, [("buy", "5", "100"), ("sell", "5", "40")])  # -30 % total return
    steady = _provider(database, settings, [("buy", "1", "100"), ("sell", "1", "101")])
    lenient = Settings(home=tmp_path, copy_flag_return_bp=-10_000, copy_flag_drawdown_bp=10_000)
    with database.session() as session:  # figures stored under thresholds that have since been tightened
        for provider_id in (loser, steady):
            provider = session.get(SignalProvider, provider_id)
            assert provider is not None
            metrics.update_metrics(session, lenient, provider, through=YESTERDAY)
        assert {p.id for _, p in flags.flagged(session)}.isdisjoint({loser, steady})
    run_platform_job(database, platform, "provider-flags.ipynb")
    with database.session() as session:
        raised = {provider.id: flag for flag, provider in flags.flagged(session)}
        assert steady not in raised
        flag = raised[loser]
        assert flag.kind == FlagKind.UNDERPERFORMING
        assert "total return -30.00 % is below -20.00 %" in flag.reason
        assert [each.actor for each in audit.entries(session, subject=f"copy_provider:{loser}")
                if each.action == "copy.provider.flagged"] == ["job:provider-flags"]


def test_provider_verification_fails_an_inflated_claim_and_passes_an_honest_one(
        database: Database, platform: tuple[Settings, User]) -> None:
    settings, _ = platform
    trades = [("buy", "1", "100"), ("sell", "1", "110")]  # +1 % total return, one winning round trip
    boaster = _provider(database, settings, trades, claims=Claims(return_bp=5000))
    honest = _provider(database, settings, trades, claims=Claims(return_bp=100, win_rate_bp=10_000))
    run_platform_job(database, platform, "provider-verification.ipynb")
    with database.session() as session:
        results = {each.provider_id: each for each in session.scalars(select(ProviderVerification).where(
            ProviderVerification.provider_id.in_([boaster, honest])))}
        assert (results[boaster].passed, results[boaster].discrepancy_bp) == (False, 4900)
        assert (results[honest].passed, results[honest].discrepancy_bp) == (True, 0)
        assert {each.actor for each in results.values()} == {"job:provider-verification"}
        assert [(session.get(SignalProvider, each).verification) for each in (boaster, honest)] == ["failed",
                                                                                                   "passed"]
        suspicious = {provider.id for flag, provider in flags.flagged(session) if flag.kind == FlagKind.SUSPICIOUS}
        assert boaster in suspicious and honest not in suspicious


def test_creator_payouts_pay_a_providers_earnings_through_the_local_provider(
        database: Database, platform: tuple[Settings, User]) -> None:
    settings, _ = platform
    with database.session() as session:
        provider, _ = approved_provider(session, settings, price_minor=2500)
        follow(session, settings, provider)  # 25.00 a month: 20.00 for the provider
        creator = session.get(User, provider.user_id)
        assert creator is not None
        payouts.connect_account(session, LOCAL, creator)
        creator_id = creator.id
        assert payouts.available(session, creator_id, "USD") == Money(2000, "USD")
    run_platform_job(database, platform, "creator-payouts.ipynb")
    with database.session() as session:
        [payout] = session.scalars(select(Payout).where(Payout.creator_id == creator_id))
        assert (payout.amount_minor, payout.status, payout.provider) == (2000, PayoutStatus.PAID, "local")
        assert payout.provider_ref and payout.settled_at is not None
        assert ledger.balance(session, ledger.creator_account(creator_id), "USD") == Money(0, "USD")
        assert [each.actor for each in audit.entries(session, subject=f"payout:{payout.id}")] == [
            "payout-worker", "payout-worker"]


def test_demo_cleanup_expires_due_demos_and_deletes_those_past_their_read_only_days(
        database: Database, platform: tuple[Settings, User]) -> None:
    settings, _ = platform
    opened = {}
    with database.session() as session:
        for name, days_ago in (("gone", 100), ("expired", 45), ("fresh", 1)):
            with clock.frozen(utcnow() - timedelta(days=days_ago)):
                account, _ = accounts.open_demo(session, settings)
                opened[name] = account.id
    run_platform_job(database, platform, "demo-cleanup.ipynb")
    with database.session() as session:
        assert session.get(TradingAccount, opened["gone"]) is None
        assert [session.get(TradingAccount, opened[name]).status for name in ("expired", "fresh")] == [
            AccountStatus.READ_ONLY, AccountStatus.ACTIVE]
        deleted = [each for each in audit.entries(session, subject=accounts.account_subject(opened["gone"]))
                   if each.action == "trading_account.demo_deleted"]
        assert [(each.actor, each.data["rows"]["trading_accounts"]) for each in deleted] == [("demo-job", 1)]


def test_the_day_parameter_reaches_the_notebook(database: Database, platform: tuple[Settings, User]) -> None:
    settings, _ = platform
    provider_id = _provider(database, settings, [("buy", "1", "100"), ("sell", "1", "110"), ("buy", "1", "110")])
    two_days_ago = YESTERDAY - timedelta(days=1)
    run_platform_job(database, platform, "provider-metrics.ipynb", day=two_days_ago.isoformat())
    with database.session() as session:
        days = list(session.scalars(select(ProviderMetric.day).where(ProviderMetric.provider_id == provider_id)
                                    .order_by(ProviderMetric.day)))
    assert days == [two_days_ago - timedelta(days=1), two_days_ago]
