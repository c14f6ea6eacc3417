"""Listing search benchmarks (``make bench``): latency and throughput of ``search()`` over 100,000 listings on
PostgreSQL, and of ``GET /api/listings`` through uvicorn when the app serves that route.

The catalogue is generated from a seeded vocabulary of trading terms (titles such as "Adaptive RSI divergence
for BTC", descriptions of entries, exits and markets, Zipf-distributed tags, mostly free listings, a long tail
of sales and ratings, and a tenth that are not approved), bulk-inserted in batches so PostgreSQL computes the
generated ``tsvector`` column as it would in production, then ANALYZEd. The workload mixes text searches with
common and rare terms, browses with every filter and sort, and deep pages reached by following cursors.
Relevance pages are remembered for a while (``alphabook.marketplace.ranked_pages``), so the mixed figures are those
of a running site; the first asking of each distinct relevance search is timed apart, with nothing remembered.
Nothing here asserts on time; the goals are printed for the reader.

Needs PostgreSQL: set ``ALPHABOOK_TEST_DATABASE_URL`` (a server URL; a throw-away database is created on it).
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, text
from tests.integration.databases import migrated_database
from tests.ports import free_port
from tqdm import tqdm

from alphabook.accounts.models import User
from alphabook.core.clock import utcnow
from alphabook.core.db import Database
from alphabook.marketplace import ranked_pages
from alphabook.marketplace.models import Listing
from alphabook.marketplace.search import SearchQuery, Sort, search

LISTINGS = 100_000
CREATORS = 3_000
BATCH = 5_000
LATENCY_QUERIES = 1_500
WARM_UP = 200
WORKERS = 4
THROUGHPUT_SECONDS = 10.0
DEEP_PAGES = 50  # pages followed by cursor before a "deep page" query (row 1,000 at 20 a page)
SEED = 20261122
BROWSE_SORTS: list[Sort] = ["popular", "rating", "newest", "price", "price_desc", "relevance"]
TEXT_SORTS: list[Sort] = ["relevance", "relevance", "relevance", "relevance", "relevance", "relevance", "popular",
                          "newest", "rating", "price"]
ROWS: list[tuple[str, str, str]] = []

ADJECTIVES = ["Adaptive", "Smoothed", "Multi-timeframe", "Volume-weighted", "Fast", "Slow", "Dynamic", "Robust",
              "Hedged", "Intraday", "Swing", "Scalping", "Mean-reverting", "Trend-following", "Regime-aware",
              "Fractal", "Zero-lag", "Classic", "Enhanced", "Quantile"]
INDICATORS = ["RSI", "MACD", "Bollinger", "Stochastic", "ATR", "ADX", "Ichimoku", "VWAP", "Keltner", "Donchian",
              "SuperTrend", "Parabolic SAR", "CCI", "OBV", "Williams %R", "Aroon", "Fibonacci", "Pivot", "EMA",
              "SMA", "Hull MA", "KAMA", "TRIX", "Chaikin", "MFI"]
RARE_INDICATORS = ["Heikin Ashi", "Renko", "Kagi", "ZigZag", "Ehlers Fisher", "Vortex", "Coppock", "Ulcer Index"]
NOUNS = {"indicator": ["oscillator", "bands", "divergence", "crossover", "filter", "signal", "channel", "histogram",
                       "heatmap", "screener"],
         "strategy": ["strategy", "bot", "system", "breakout", "grid", "arbitrage", "carry trade", "pairs trade",
                      "momentum rotation"],
         "notebook": ["notebook", "study", "backtest", "research", "walkthrough", "analysis"]}
MARKETS = ["BTC", "ETH", "SPY", "forex", "EURUSD", "gold", "futures", "options", "crypto", "equities", "NASDAQ",
           "crude oil", "SOL", "treasuries"]
CONCEPTS = ["trend reversals", "momentum bursts", "volatility squeezes", "mean reversion", "liquidity sweeps",
            "support and resistance", "breakouts", "divergences", "order flow imbalance", "gap fills"]
EXITS = ["trailing stop", "ATR stop", "time stop", "take-profit ladder", "chandelier exit", "break-even stop"]
REGIMES = ["trending", "ranging", "volatile", "quiet"]
TIMEFRAMES = ["1-minute", "5-minute", "hourly", "4-hour", "daily", "weekly"]
TAGS = ["momentum", "trend", "volatility", "mean-reversion", "breakout", "crypto", "scalping", "swing", "forex",
        "stocks", "futures", "oscillator", "moving-average", "risk-management", "volume", "multi-timeframe",
        "options", "machine-learning", "statistical-arbitrage", "pairs", "seasonality", "orderflow", "sentiment",
        "grid"]
CATEGORIES = ["trend", "momentum", "volatility", "volume", "mean-reversion", "arbitrage", "machine-learning",
              "risk", "portfolio", "options", "education", "utilities"]
STATUSES = ["approved"] * 90 + ["pending"] * 4 + ["draft"] * 3 + ["rejected", "suspended", "removed"]
PRICES = [0] * 60 + [499] * 8 + [999] * 10 + [1999] * 9 + [2999] * 5 + [4999] * 5 + [9999] * 2 + [24999]
COMMON_TEXT = ["momentum", "trend", "rsi", "breakout strategy", "moving average", "bollinger bands", "crypto",
               "volatility", "mean reversion", "macd divergence", "scalping bot", "trailing stop"]
RARE_TEXT = ["kagi", "renko", "ehlers fisher", "heikin ashi", "coppock", "ulcer index", "vortex treasuries",
             "quantile aroon", "gap fills sol", "zigzag walkthrough"]


def zipf(rng: random.Random, items: list[str], exponent: float = 1.0) -> str:
    """One of ``items``, the first ones far more often (as real tags and words are)."""
    return rng.choices(items, weights=[1 / (rank + 1) ** exponent for rank in range(len(items))])[0]


def listing_row(rng: random.Random, number: int, creators: int, start: Any) -> dict[str, Any]:
    kind = rng.choices(["indicator", "strategy", "notebook"], weights=[6, 3, 1])[0]
    first, second = (rng.choice(RARE_INDICATORS) if rng.random() < 0.02 else zipf(rng, INDICATORS, 0.8)
                     for _ in range(2))
    market = zipf(rng, MARKETS, 0.7)
    title = f"{rng.choice(ADJECTIVES)} {first} {rng.choice(NOUNS[kind])}"
    if rng.random() < 0.4:
        title += f" for {market}"
    description = " ".join([
        f"Combines {first} with {second} to find {rng.choice(CONCEPTS)} on {market} {rng.choice(TIMEFRAMES)} charts.",
        f"Entries trigger when {first} crosses its signal line; exits use a {rng.choice(EXITS)}.",
        f"Backtested on {rng.randint(2, 15)} years of {market} data with fees and slippage.",
        f"Parameters: period {rng.randint(5, 200)}, multiplier {rng.uniform(0.5, 4):.1f}; best in "
        f"{rng.choice(REGIMES)} markets.",
    ][:rng.randint(2, 4)])
    rating_count = int(rng.paretovariate(1.3)) - 1 if rng.random() < 0.7 else 0
    rating_sum = round(rng.uniform(2.5, 5.0) * rating_count)  # as the ratings service keeps them
    created = start - timedelta(seconds=rng.randint(0, 3 * 365 * 86400), microseconds=rng.randint(0, 999_999))
    return {"slug": f"listing-{number}", "creator_id": rng.randint(1, creators), "kind": kind, "title": title[:120],
            "description": description, "category": zipf(rng, CATEGORIES, 0.6),
            "tags": sorted({zipf(rng, TAGS, 0.5) for _ in range(rng.randint(1, 4))}), "price_minor": rng.choice(PRICES),
            "currency": "USD", "licence": rng.choice(["open", "protected"]), "status": rng.choice(STATUSES),
            "official": rng.random() < 0.01, "installs": int(rng.paretovariate(1.1)) - 1,
            "purchases": int(rng.paretovariate(1.2)) - 1, "rating_count": rating_count,
            "rating_sum": rating_sum, "rating_avg": rating_sum / rating_count if rating_count else 0.0,
            "flags_open": 0, "created_at": created, "updated_at": created}


def populate(database: Database) -> None:
    """Creators, then 100,000 listings in bulk batches, then ANALYZE so the planner knows the data."""
    rng, start = random.Random(SEED), utcnow()
    with database.session() as session:
        session.execute(insert(User), [{"name": f"quant-{number:04d}", "email": None, "roles": ["user", "creator"],
                                        "created_at": start, "last_seen_at": None}
                                       for number in range(1, CREATORS + 1)])
    with tqdm(total=LISTINGS, desc="listings", unit="row") as progress:
        for offset in range(0, LISTINGS, BATCH):
            rows = [listing_row(rng, number, CREATORS, start) for number in range(offset, offset + BATCH)]
            with database.session() as session:
                session.execute(insert(Listing), rows)
            progress.update(len(rows))
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE listings"))
        connection.execute(text("VACUUM ANALYZE users"))


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    if not os.environ.get("ALPHABOOK_TEST_DATABASE_URL"):
        pytest.fail("The search benchmark needs PostgreSQL: set ALPHABOOK_TEST_DATABASE_URL, e.g. "
                    "postgresql+psycopg://postgres@127.0.0.1:5432/test (a throw-away database is created on it).")
    with migrated_database("postgresql", tmp_path_factory.mktemp("bench-search"), pool_size=WORKERS + 2) as db:
        started = time.perf_counter()
        populate(db)
        record(f"generate and insert {LISTINGS:,} listings, ANALYZE", f"{time.perf_counter() - started:.1f} s",
               "report")
        yield db


@pytest.fixture(scope="module", autouse=True)
def summary() -> Iterator[None]:
    yield
    print("\n\n" + "=" * 120 + "\nlisting search benchmarks\n" + "-" * 120)
    for what, figure, goal in ROWS:
        print(f"{what:58s} {figure:38s} goal: {goal}")


def record(what: str, figure: str, goal: str) -> None:
    ROWS.append((what, figure, goal))
    print(f"\n{what:58s} {figure:38s} goal: {goal}")


def percentiles(seconds: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


def browse_query(rng: random.Random) -> SearchQuery:
    """A filter-only browse: a sort (all six) and none, one or two of the filters people actually use."""
    narrowings: list[Callable[[SearchQuery], SearchQuery]] = [
        lambda q: replace(q, category=zipf(rng, CATEGORIES, 0.6)),
        lambda q: replace(q, kind=rng.choice(["indicator", "strategy", "notebook"])),
        lambda q: replace(q, free=rng.random() < 0.5),
        lambda q: replace(q, min_price_minor=500, max_price_minor=rng.choice([1999, 4999])),
        lambda q: replace(q, min_rating=rng.choice([3.5, 4.0, 4.5])),
        lambda q: replace(q, tags=(zipf(rng, TAGS),)),
        lambda q: replace(q, creator=f"quant-{rng.randint(1, CREATORS):04d}"),
    ]
    query = SearchQuery(sort=rng.choice(BROWSE_SORTS))
    for _ in range(rng.choice([0, 1, 1, 2])):
        query = rng.choice(narrowings)(query)
    return query


def text_query(rng: random.Random) -> SearchQuery:
    """Words typed into the search box, mostly ranked by relevance, sometimes sorted or narrowed."""
    words = rng.choice(COMMON_TEXT) if rng.random() < 0.7 else rng.choice(RARE_TEXT)
    query = SearchQuery(text=words, sort=rng.choice(TEXT_SORTS))
    if rng.random() < 0.3:
        query = replace(query, free=rng.random() < 0.5) if rng.random() < 0.5 else replace(
            query, category=zipf(rng, CATEGORIES, 0.6))
    return query


def deep_queries(database: Database) -> list[tuple[str, SearchQuery]]:
    """Queries positioned ``DEEP_PAGES`` pages in, by following the cursors from the first page."""
    starts = [SearchQuery(sort=sort) for sort in ("popular", "rating", "newest", "price", "price_desc")]
    starts += [SearchQuery(text=words) for words in ("momentum", "trend", "crypto")]
    starts += [SearchQuery(sort="newest", category="momentum"), SearchQuery(sort="rating", free=True)]
    deep = []
    with database.sessions() as session:
        for query in starts:
            page = search(session, query)
            for _ in range(DEEP_PAGES - 1):
                if page.next_cursor is None:
                    break
                page = search(session, replace(query, cursor=page.next_cursor))
            deep.append(("deep page", replace(query, cursor=page.next_cursor)))
    return deep


def workload(database: Database, count: int) -> list[tuple[str, SearchQuery]]:
    rng = random.Random(SEED + count)
    deep = deep_queries(database)
    queries: list[tuple[str, SearchQuery]] = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.4:
            query = text_query(rng)
            queries.append(("text, rare term" if query.text in RARE_TEXT else "text, common term", query))
        elif roll < 0.85:
            queries.append(("browse", browse_query(rng)))
        else:
            queries.append(rng.choice(deep))
    return queries


def describe(query: SearchQuery) -> str:
    fields = {name: getattr(query, name) for name in ("text", "kind", "category", "free", "min_price_minor",
                                                      "max_price_minor", "min_rating", "creator", "tags")}
    shown = ", ".join(f"{name}={value!r}" for name, value in fields.items() if value not in (None, "", ()))
    return f"sort={query.sort}{', ' + shown if shown else ''}{', deep' if query.cursor else ''}"


def timed(function: Callable[[], Any]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def run_one(database: Database, query: SearchQuery) -> None:
    with database.sessions() as session:  # one session per request, as the API does
        search(session, query)


def share_of_listings(database: Database, phrases: list[str]) -> list[float]:
    """How much of the catalogue each phrase matches, in percent: what a relevance sort must rank."""
    with database.engine.connect() as connection:
        return [100 * (connection.scalar(text("SELECT count(*) FROM listings WHERE search_vector @@ "
                                             "websearch_to_tsquery('english', :q)"), {"q": phrase}) or 0) / LISTINGS
                for phrase in phrases]


def test_search_latency_and_throughput(database: Database) -> None:
    common, rare = share_of_listings(database, COMMON_TEXT), share_of_listings(database, RARE_TEXT)
    record("listings matched by the common / the rare search terms", f"{min(common):.1f}-{max(common):.1f}% / "
           f"{min(rare):.2f}-{max(rare):.2f}%", "report")
    queries = workload(database, LATENCY_QUERIES)
    for _, query in queries[:WARM_UP]:
        run_one(database, query)
    times: dict[str, list[float]] = {}
    slowest: list[tuple[float, str]] = []
    for label, query in queries:
        seconds = timed(partial(run_one, database, query))
        times.setdefault(label, []).append(seconds)
        slowest.append((seconds, describe(query)))
    every = [seconds for group in times.values() for seconds in group]
    p50, p95, p99 = percentiles(every)
    record(f"search(), {len(every)} mixed queries, one at a time", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
           f"p99 {p99:.1f} ms", "p95 <= 30 ms")
    for label in sorted(times):
        group_p50, group_p95, group_p99 = percentiles(times[label])
        record(f"  {label} ({len(times[label])})", f"p50 {group_p50:.1f}, p95 {group_p95:.1f}, "
               f"p99 {group_p99:.1f} ms", "report")
    print("\nslowest queries:")
    for seconds, what in sorted(slowest, reverse=True)[:8]:
        print(f"  {seconds * 1000:7.1f} ms  {what}")

    cold = cold_relevance(database, queries)
    p50, p95, p99 = percentiles(cold)
    record(f"  relevance asked for the first time ({len(cold)} distinct)", f"p50 {p50:.1f}, p95 {p95:.1f}, "
           f"p99 {p99:.1f} ms", "report (not remembered yet)")

    rate, done = throughput(database, queries)
    record(f"search() throughput, {WORKERS} threads, {THROUGHPUT_SECONDS:.0f} s", f"{rate:.0f} queries/s "
           f"({done} queries)", ">= 300 req/s")


def cold_relevance(database: Database, queries: list[tuple[str, SearchQuery]]) -> list[float]:
    """Each distinct relevance search timed once with nothing remembered: what the first visitor to ask waits."""
    distinct = list(dict.fromkeys(query for _, query in queries if query.sort == "relevance" and query.text))
    times = []
    for query in distinct:
        ranked_pages.pages.clear()
        times.append(timed(partial(run_one, database, query)))
    return times


def throughput(database: Database, queries: list[tuple[str, SearchQuery]]) -> tuple[float, int]:
    done = 0
    lock = threading.Lock()
    stop = time.perf_counter() + THROUGHPUT_SECONDS

    def worker(offset: int) -> None:
        nonlocal done
        count = 0
        with database.sessions() as session:  # each worker its own session (and connection)
            while time.perf_counter() < stop:
                search(session, queries[(offset + count * WORKERS) % len(queries)][1])
                session.expunge_all()
                session.rollback()
                count += 1
        with lock:
            done += count

    threads = [threading.Thread(target=worker, args=(number,)) for number in range(WORKERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done / (time.perf_counter() - started), done


# HTTP


def has_listings_route(home: Path, url: str) -> bool:
    """Whether the app (being written alongside this benchmark) serves ``GET /api/listings`` yet.

    Read from the OpenAPI document rather than ``app.routes``, which holds included routers unexpanded."""
    from alphabook.api.main import create_app
    from alphabook.core.config import Settings

    app = create_app(Settings(home=home, database_url=url), prefix="/")
    return "get" in app.openapi()["paths"].get("/api/listings", {})


def serve(home: Path, url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    """``alphabook api`` as JupyterHub starts it, run alone (no service prefix) with ``workers`` processes."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("JUPYTERHUB_",
                                                                                              "ALPHABOOK_"))}
    environment.update(ALPHABOOK_HOME=str(home), ALPHABOOK_DATABASE_URL=url, ALPHABOOK_API_PORT=str(port),
                       ALPHABOOK_API_WORKERS=str(workers), ALPHABOOK_LOG_LEVEL="WARNING")
    return subprocess.Popen([str(Path(sys.executable).parent / "alphabook"), "api"], env=environment)


def http_params(query: SearchQuery) -> dict[str, Any]:
    params: dict[str, Any] = {"q": query.text, "sort": query.sort, "limit": query.limit}
    for name in ("kind", "category", "min_price_minor", "max_price_minor", "min_rating", "creator", "cursor"):
        if getattr(query, name) is not None:
            params[name] = getattr(query, name)
    if query.free is not None:
        params["free"] = "true" if query.free else "false"
    if query.tags:
        params["tags"] = list(query.tags)
    return params


@pytest.fixture(scope="module", params=[1, 2], ids=lambda workers: f"{workers}-workers")
def server(request: pytest.FixtureRequest, database: Database,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int] | None]:
    home, port, workers = tmp_path_factory.mktemp("bench-search-api"), free_port(), request.param
    if not has_listings_route(home, database.url):
        yield None
        return
    process = serve(home, database.url, port, workers)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/listings", params={"limit": 1}, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("uvicorn did not answer GET /api/listings within 60 s")
        yield base, workers
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_http_requests_per_second(database: Database, server: tuple[str, int] | None) -> None:
    if server is None:
        record("GET /api/listings", "not measured: the app has no such route yet", ">= 300 req/s")
        return
    base, workers = server
    queries = workload(database, LATENCY_QUERIES)
    times: list[float] = []
    failures: dict[int, int] = {}
    lock = threading.Lock()
    stop = time.perf_counter() + THROUGHPUT_SECONDS
    clients = 2 * WORKERS

    def client(offset: int) -> None:
        mine: list[float] = []
        count = 0
        with httpx.Client(base_url=base, timeout=30) as http:
            for _, query in queries[offset:offset + 20]:  # warm up this connection
                http.get("/api/listings", params=http_params(query))
            while time.perf_counter() < stop:
                query = queries[(offset + count * clients) % len(queries)][1]
                started = time.perf_counter()
                response = http.get("/api/listings", params=http_params(query))
                mine.append(time.perf_counter() - started)
                if response.status_code != 200:
                    with lock:
                        failures[response.status_code] = failures.get(response.status_code, 0) + 1
                count += 1
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=client, args=(number,)) for number in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    p50, p95, p99 = percentiles(times)
    processes = f"{workers} uvicorn worker{'s' if workers > 1 else ''}"
    record(f"GET /api/listings, {processes}, {clients} clients", f"{len(times) / elapsed:.0f} req/s",
           ">= 300 req/s")
    record("  latency under that load", f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms", "p95 <= 30 ms")
    record("  responses other than 200", f"{sum(failures.values())} {failures or ''}", "0")
