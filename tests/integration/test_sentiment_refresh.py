"""News sentiment end to end: a refresh reads RSS and Atom feeds over HTTP from a local publisher (the fake speaks
HTTP caching too), stores each story once, and the API served by uvicorn answers with what it stored; on every
database backend, each test in a database of its own so the stories it counts are its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.research.sentiment import VaderScorer
from alphabook.sentiment.service import RefreshReport, refresh
from tests.fakes.fake_feeds import SOLANA_CORRECTED, FakeFeeds, market_news
from tests.integration.databases import BACKENDS, migrated_database
from tests.integration.live_api import live_api
from tests.unit.research.conftest import read_shared

pytestmark = pytest.mark.db
FEEDS = ("/markets.rss", "/crypto.atom")
BTC_HEADLINE = "Bitcoin soars to a record high as investors cheer ETF approval. Strong inflows lifted BTC."


@pytest.fixture(params=BACKENDS)
def news_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """An empty migrated database for one test: the news tables hold only what this test stored."""
    with migrated_database(request.param, tmp_path_factory.mktemp("news")) as database:
        yield database


@pytest.fixture
def publisher() -> Iterator[FakeFeeds]:
    with FakeFeeds(market_news()) as fake:
        yield fake


def settings_for(database: Database, home: Path, publisher: FakeFeeds, **extra: Any) -> Settings:
    return Settings(home=home, database_url=database.url, news_feeds=[publisher.url(path) for path in FEEDS],
                    **extra)


def statuses(report: RefreshReport) -> list[str]:
    return [each.status for each in report.feeds]


def problem(reply: httpx.Response, status: int) -> str:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    detail: str = reply.json()["detail"]
    return detail


def test_a_refresh_stores_each_story_once_and_the_api_answers(news_database: Database, tmp_path: Path,
                                                              publisher: FakeFeeds) -> None:
    settings = settings_for(news_database, tmp_path, publisher)
    report = refresh(news_database, settings)
    assert statuses(report) == ["200 OK, 3 items", "200 OK, 3 items"]
    assert (report.new, report.updated, report.unchanged, report.scorer) == (4, 0, 0, "vader")
    assert report.fear_greed is not None and report.fear_greed_problem is None

    with live_api(settings) as api, httpx.Client(base_url=api.url, timeout=30) as client:
        news = client.get("/news").json()
        assert news["total"] == 4 and [item["title"] for item in news["items"]] == [
            "Ethereum network outage sparks panic among traders", "Solana steady as developers ship upgrade",
            "Apple shares slump after weak iPhone sales disappoint",
            "Bitcoin soars to a record high as investors cheer ETF approval"]
        assert [item["symbols"] for item in news["items"]] == [["ETH"], ["SOL"], ["AAPL"], ["BTC"]]
        assert news["items"][0]["published_at"] == "2026-03-02T11:00:00Z"
        second = client.get("/news", params={"limit": 2, "offset": 2}).json()
        assert [item["symbols"] for item in second["items"]] == [["AAPL"], ["BTC"]] and second["total"] == 4

        bitcoin = client.get("/news", params={"symbol": "bitcoin"}).json()
        assert (bitcoin["symbol"], bitcoin["total"], bitcoin["items"][0]["link"]) == (
            "BTC", 1, "https://news.example/btc-record")

        expected = VaderScorer().score([BTC_HEADLINE])[0].compound
        btc = client.get("/sentiment/btc").json()
        assert btc["symbol"] == "BTC" and btc["names"] == ["Bitcoin"]
        assert btc["score"] == pytest.approx(expected) and expected > 0.5 and btc["label"] == "positive"
        assert btc["counts"] == {"positive": 1, "negative": 0, "neutral": 0, "total": 1}
        assert btc["scorers"] == ["vader"] and btc["finbert"].startswith("FinBERT unavailable: no local model")
        assert [(each["title"], each["score"]) for each in btc["headlines"]] == [
            ("Bitcoin soars to a record high as investors cheer ETF approval", pytest.approx(expected))]
        assert client.get("/sentiment/AAPL").json()["label"] == "negative"
        assert client.get("/sentiment/MSFT").json() == {**client.get("/sentiment/MSFT").json(), "score": None,
                                                         "label": "no news", "headlines": []}

        assert "'DOGE' is not a tracked symbol; news is matched to and scored for AAPL, BTC, ETH" in problem(
            client.get("/sentiment/DOGE"), 404)
        assert "not a tracked symbol" in problem(client.get("/news", params={"symbol": "DOGE"}), 404)

        mood = client.get("/indicators/fear-greed").json()
        components = {each["name"]: each for each in mood["components"]}
        assert mood["market"] == "INDEX:BTC/USD 1M" and mood["as_of"] == "2024-12-01T00:00:00Z"
        assert list(components) == ["volatility", "momentum", "volume", "sentiment"]
        assert components["sentiment"]["reading"] == pytest.approx(expected)
        assert components["sentiment"]["score"] == pytest.approx(50 + 50 * expected)
        assert sum(each["weight"] for each in components.values()) == pytest.approx(1)
        assert mood["weights"] == {"volatility": 0.25, "momentum": 0.25, "volume": 0.2, "sentiment": 0.3}
        assert mood["value"] == report.fear_greed.value == round(sum(
            each["score"] * each["weight"] for each in components.values()))
        assert mood["bands"][mood["label"]] and mood["bands"]["Extreme Fear"] == "0–24"
        assert [point["value"] for point in mood["history"]] == [mood["value"]]


def test_a_second_refresh_asks_conditionally_and_a_corrected_story_is_updated_in_place(
        news_database: Database, tmp_path: Path, publisher: FakeFeeds) -> None:
    settings = settings_for(news_database, tmp_path, publisher)
    refresh(news_database, settings)
    again = refresh(news_database, settings)
    assert statuses(again) == ["304 Not Modified", "304 Not Modified"]
    assert (again.new, again.updated, again.unchanged) == (0, 0, 0)
    assert all(seen.if_none_match for seen in publisher.requests[2:])  # the ETags of the first answers came back

    publisher.publish("/crypto.atom", SOLANA_CORRECTED)
    corrected = refresh(news_database, settings)
    assert statuses(corrected) == ["304 Not Modified", "200 OK, 3 items"]
    assert (corrected.new, corrected.updated, corrected.unchanged) == (0, 1, 2)

    with live_api(settings) as api, httpx.Client(base_url=api.url, timeout=30) as client:
        news = client.get("/news").json()
        assert news["total"] == 4
        solana = client.get("/sentiment/SOL").json()
        assert [each["title"] for each in solana["headlines"]] == [
            "Solana rallies after developers ship a successful upgrade"]
        assert solana["label"] == "positive" and solana["counts"]["total"] == 1
        assert len(client.get("/indicators/fear-greed").json()["history"]) == 3


def test_a_failing_feed_is_reported_and_the_others_still_load(news_database: Database, tmp_path: Path,
                                                              publisher: FakeFeeds) -> None:
    publisher.fail("/markets.rss", 503)
    settings = settings_for(news_database, tmp_path, publisher)
    report = refresh(news_database, settings)
    assert [(each.address.rsplit("/", 1)[1], each.failed) for each in report.feeds] == [
        ("markets.rss", True), ("crypto.atom", False)]
    assert report.failed_feeds[0].status == "answered 503 Service Unavailable"
    assert report.new == 3  # the Atom feed's three stories
    assert any(line.startswith("  FAILED http") and "503" in line for line in report.lines())


def test_a_feed_slower_than_the_timeout_is_given_up_on(news_database: Database, tmp_path: Path,
                                                       publisher: FakeFeeds) -> None:
    publisher.stall("/crypto.atom", 3.0)
    settings = settings_for(news_database, tmp_path, publisher, news_fetch_timeout_seconds=0.5)
    report = refresh(news_database, settings)
    assert [(each.status, each.failed) for each in report.feeds] == [("200 OK, 3 items", False),
                                                                      ("no answer within 0.5 s", True)]
    assert report.new == 3


def test_before_any_refresh_the_index_says_how_to_get_one(news_database: Database, tmp_path: Path) -> None:
    with live_api(Settings(home=tmp_path, database_url=news_database.url)) as api:
        detail = problem(httpx.get(f"{api.url}/indicators/fear-greed", timeout=30), 404)
        assert "run `alphabook sentiment refresh` or the sentiment-refresh platform job" in detail
        assert httpx.get(f"{api.url}/news", timeout=30).json()["total"] == 0


def test_the_index_reads_daily_windows_from_real_intraday_candles(news_database: Database, tmp_path: Path,
                                                                  publisher: FakeFeeds) -> None:
    folder = tmp_path / "candles"
    folder.mkdir()
    read_shared("binance_BTCUSDT_5m.csv.gz").loc["2025-06-01":"2025-09-30"].to_csv(folder / "binance_BTCUSDT_5m.csv")
    settings = settings_for(news_database, tmp_path, publisher, market_mood_symbol="BINANCE:BTC/USDT",
                            market_mood_timeframe="5m", market_mood_data_dir=folder)
    report = refresh(news_database, settings)
    index = report.fear_greed
    assert index is not None, report.fear_greed_problem
    assert index.window_bars == 30 and index.as_of.isoformat() == "2025-09-30T00:00:00+00:00"
    assert [each.name for each in index.components] == ["volatility", "momentum", "volume", "sentiment"]
    with live_api(settings) as api:
        assert httpx.get(f"{api.url}/indicators/fear-greed", timeout=30).json()["market"] == "BINANCE:BTC/USDT 5m"


def test_market_data_the_index_cannot_use_is_reported_and_the_news_kept(news_database: Database, tmp_path: Path,
                                                                        publisher: FakeFeeds) -> None:
    settings = settings_for(news_database, tmp_path, publisher, market_mood_symbol="INDEX:DOGE/USD")
    report = refresh(news_database, settings)
    assert report.fear_greed is None and report.new == 4
    assert report.fear_greed_problem is not None and "has no INDEX:DOGE/USD" in report.fear_greed_problem
    assert report.lines()[-1].startswith("Fear & Greed not computed: BundledSource() has no INDEX:DOGE/USD")
