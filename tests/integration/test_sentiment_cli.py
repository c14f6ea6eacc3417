"""``alphabook sentiment refresh`` as an operator types it: offline on the sample feed shipped with alphabook, and
exiting 1 (after storing what worked) when a feed fails, so a cron line notices."""

from __future__ import annotations

from pathlib import Path

import pytest

from alphabook.cli.sentiment import first_refresh
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.sentiment import queries
from tests.fakes.fake_feeds import FakeFeeds, market_news
from tests.integration.test_cli import _run

pytestmark = pytest.mark.db


def test_refresh_reads_the_bundled_sample_offline_and_says_what_it_did(tmp_path: Path,
                                                                        fresh_database_url: str) -> None:
    assert _run(["db", "upgrade"], tmp_path, fresh_database_url).returncode == 0
    first = _run(["sentiment", "refresh"], tmp_path, fresh_database_url)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.startswith("1 feeds read: 8 new stories, 0 updated, 0 already stored; scored with vader "
                                   "(FinBERT unavailable: no local model configured")
    assert "sample_feed.xml: file, 8 items" in first.stdout
    assert "Fear & Greed " in first.stdout and "as of 2024-12-01 00:00 UTC: volatility" in first.stdout
    again = _run(["sentiment", "refresh"], tmp_path, fresh_database_url)
    assert "0 new stories, 0 updated, 8 already stored" in again.stdout
    database = Database(fresh_database_url)
    try:
        with database.session() as session:
            assert len(queries.fear_greed_history(session, 10)) == 2
    finally:
        database.dispose()


def test_a_failing_feed_makes_the_command_fail_after_storing_the_others(tmp_path: Path,
                                                                        fresh_database_url: str) -> None:
    assert _run(["db", "upgrade"], tmp_path, fresh_database_url).returncode == 0
    with FakeFeeds(market_news()) as publisher:
        publisher.fail("/crypto.atom", 500)
        result = _run(["sentiment", "refresh", "--feed", publisher.url("/markets.rss"), "--feed",
                       publisher.url("/crypto.atom")], tmp_path, fresh_database_url)
    assert result.returncode == 1
    assert "2 feeds read: 3 new stories" in result.stdout
    assert f"FAILED {publisher.url('/crypto.atom')}: answered 500 Internal Server Error" in result.stdout


def test_the_first_start_computes_the_market_mood_once(tmp_path: Path, fresh_database_url: str) -> None:
    assert _run(["db", "upgrade"], tmp_path, fresh_database_url).returncode == 0
    database = Database(fresh_database_url)
    try:
        configured = Settings(home=tmp_path, database_url=fresh_database_url,
                              news_feeds=["https://example.invalid/rss"])
        first_refresh(configured)  # configured feeds are the job's business: a start never waits on them
        with database.session() as session:
            assert queries.fear_greed_history(session, 10) == []
        settings = Settings(home=tmp_path, database_url=fresh_database_url)
        first_refresh(settings)  # what `alphabook run` does before starting the hub
        first_refresh(settings)  # and on every later start: nothing more
        with database.session() as session:
            [snapshot] = queries.fear_greed_history(session, 10)
            assert 0 <= snapshot.value <= 100
            assert queries.news_page(session, settings, symbol=None, limit=50, offset=0).total == 8
    finally:
        database.dispose()
