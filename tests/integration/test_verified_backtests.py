"""Verified backtests: the nightly platform notebook signs a reproducible record for each approved indicator and
strategy; a re-run gives the same numbers and the signature checks; a record edited afterwards is caught; the API
serves the record and re-runs it for anyone. Each backend; the notebook runs through the real scheduler."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from alphabook.accounts import service
from alphabook.api.main import create_app
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.marketplace import verified
from alphabook.marketplace.models import Listing
from alphabook.scheduler import jobs
from alphabook.scheduler.models import Run, RunStatus
from alphabook.scheduler.worker import Scheduler
from tests.integration.market import API, CROSS, CROSS_SCHEMA, SMA, SMA_SCHEMA, Market, ok, problem
from tests.integration.test_scheduler import clear_jobs


@pytest.fixture
def world(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Market, Settings]]:
    clear_jobs(database)
    settings = Settings(home=tmp_path, database_url=database.url, isolation="none", payment_provider="local")
    for key, value in {"ALPHABOOK_HOME": str(tmp_path), "ALPHABOOK_DATABASE_URL": database.url,
                       "ALPHABOOK_ISOLATION": "none"}.items():
        monkeypatch.setenv(key, value)
    with TestClient(create_app(settings, prefix="/services/api/")) as client:
        market = Market(client, database)
        suffix = tmp_path.name[-6:].replace("_", "")
        market.creator = market.user(f"verimaker{suffix}", ["user", "creator"])
        market.admin = market.user(f"veriboss{suffix}", ["user", "admin"])
        yield market, settings
    clear_jobs(database)


def test_the_nightly_notebook_signs_records_that_reproduce(world: tuple[Market, Settings], tmp_path: Path) -> None:
    market, settings = world
    suffix = tmp_path.name[-6:].replace("_", "")
    indicator = market.publish(f"vsma{suffix}", code=SMA, schema=SMA_SCHEMA)
    strategy = market.publish(f"vcross{suffix}", code=CROSS, schema=CROSS_SCHEMA, kind="strategy")
    database = market.database
    with database.session() as session:
        admin = service.ensure_user(session, f"veriboss{suffix}", roles=["user", "admin"])
        job = jobs.create_job(session, admin, {"name": f"verify{suffix}", "platform": "verified-backtests.ipynb",
                                               "cron": "40 1 * * *"}, settings)
        run_id = jobs.run_now(session, admin, job).id
    Scheduler(settings, database).work_once()
    with database.session() as session:
        run = session.get(Run, run_id)
        assert run is not None and run.status == RunStatus.SUCCEEDED, f"{run and run.error}\n{run and run.log[-3000:]}"
        records = {slug: verified.latest(session, session.scalar(select(Listing).where(Listing.slug == slug)))
                   for slug in (indicator, strategy)}
        for record in records.values():
            assert record is not None and verified.signature_valid(record, settings)
            assert record.dataset == verified.DATASET and len(record.data_sha256) == 64
            assert record.environment["numpy"] and record.parameters
        cross = records[strategy]
        assert cross is not None and cross.parameters == {"fast": 10, "slow": 30}
        assert {"total_return", "sharpe", "max_drawdown"} <= set(cross.report["backtest"])
        again = verified.recheck(session, cross, settings)
        assert again.reproduced, again

        session.execute(update(verified.VerifiedBacktest).where(verified.VerifiedBacktest.id == cross.id).values(
            report={**cross.report, "backtest": {**cross.report["backtest"], "sharpe": 9.99}}))
        session.expire_all()
        edited = verified.latest(session, session.scalar(select(Listing).where(Listing.slug == strategy)))
        assert edited is not None and not verified.signature_valid(edited, settings)
        caught = verified.recheck(session, edited, settings)
        assert not caught.reproduced and not caught.signature_valid and "backtest" in caught.differences

    shown = ok(market.client.get(f"{API}/listings/{indicator}/verified"))
    assert shown["signature_valid"] and shown["dataset"] == verified.DATASET and shown["report"]["output_sha256"]
    buyer = market.user(f"verifan{suffix}")
    rerun = ok(market.client.post(f"{API}/listings/{indicator}/verified/recheck", headers=buyer))
    assert rerun == {"reproduced": True, "signature_valid": True, "same_data": True, "same_code": True,
                     "differences": {}}
    tampered = ok(market.client.post(f"{API}/listings/{strategy}/verified/recheck", headers=buyer))
    assert tampered["reproduced"] is False and tampered["signature_valid"] is False
    fresh = market.publish(f"vnew{suffix}", code=SMA, schema=SMA_SCHEMA)
    problem(market.client.get(f"{API}/listings/{fresh}/verified"), 404, "not been verified yet")
