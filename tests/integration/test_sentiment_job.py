"""The sentiment-refresh platform notebook run by the scheduler, as an administrator schedules it: it reads the
feeds it is given over HTTP (a local publisher), stores their stories once and a Fear & Greed snapshot, and its
executed notebook shows the index; on every database backend.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from alphabook.accounts.models import User
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.scheduler import outputs
from alphabook.sentiment.models import FearGreedSnapshot, NewsItem
from tests.fakes.fake_feeds import FakeFeeds, market_news
from tests.integration.test_platform_jobs import platform, run_platform_job  # noqa: F401 (platform: a fixture)

pytestmark = pytest.mark.db
GUIDS = ["rss-btc-record", "rss-aapl-slump", "rss-eth-outage", "urn:news:sol-upgrade"]


def snapshots(database: Database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(FearGreedSnapshot)) or 0


def test_the_refresh_job_stores_the_feeds_stories_once_and_a_new_index(
        database: Database, platform: tuple[Settings, User]) -> None:  # noqa: F811 (the imported fixture)
    before = snapshots(database)
    with FakeFeeds(market_news()) as publisher:
        feeds = [publisher.url("/markets.rss"), publisher.url("/crypto.atom")]
        run = run_platform_job(database, platform, "sentiment-refresh.ipynb", feeds=feeds)
        assert [seen.status for seen in publisher.requests] == [200, 200]
    with database.session() as session:
        stored = {row.guid: row for row in session.scalars(select(NewsItem).where(NewsItem.guid.in_(GUIDS)))}
        assert sorted(stored) == sorted(GUIDS)  # six entries, four stories
        assert stored["rss-eth-outage"].symbols == ["ETH"] and stored["rss-eth-outage"].label == "negative"
        assert session.scalar(select(func.count()).select_from(NewsItem).where(
            NewsItem.guid.in_(["urn:news:btc-record", "urn:news:eth-outage"]))) == 0
    assert snapshots(database) == before + 1
    executed = outputs.notebook_path(run, platform[0]).read_text()
    assert "2 feeds read: 4 new stories, 0 updated" in executed and "Fear & Greed " in executed
    assert "application/vnd.plotly.v1+json" in executed  # the gauge and the per-symbol chart
