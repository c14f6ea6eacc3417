"""Listing search on a real database: FTS5 on SQLite and the tsvector column on PostgreSQL, both made by the
migration, kept in step with edits, and reached through one ``search()`` with filters, sorts and keyset pages."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, inspect, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.core.clock import utcnow
from alphabook.core.db import Database
from alphabook.core.errors import InvalidInput
from alphabook.marketplace.models import Listing
from alphabook.marketplace.ranked_pages import CachedPage, RankedPages
from alphabook.marketplace.search import SORTS, SearchPage, SearchQuery, search
from tests.integration.databases import BACKENDS, migrated_database


@pytest.fixture(scope="module", params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A database of this module's own: the searches count every listing, so no other test's may be there."""
    with migrated_database(request.param, tmp_path_factory.mktemp(f"search-{request.param}")) as db:
        yield db

_slugs = itertools.count()
START = utcnow()

#: title, description, tags, kind, category, price_minor, purchases, rating_avg, creator, status
CATALOGUE: list[tuple[str, str, list[str], str, str, int, int, float, str, str]] = [
    ("Moving average crosses", "Signals when a fast average crosses a slow one on any timeframe.",
     ["trend", "moving-average"], "indicator", "trend", 0, 50, 4.5, "alice", "approved"),
    ("RSI divergence", "Finds divergence between price and momentum, with alerts.",
     ["momentum", "oscillator"], "indicator", "momentum", 1500, 120, 4.8, "bob", "approved"),
    ("Volatility breakout", "Enters on a breakout above a volatility band and trails a stop.",
     ["volatility", "breakout"], "strategy", "volatility", 4900, 10, 3.9, "alice", "approved"),
    ("Pairs trading notebook", "Cointegration of two stocks; trades the crossing of z-score thresholds.",
     ["mean-reversion", "stat-arb"], "notebook", "statistical", 0, 75, 4.1, "bob", "approved"),
    ("Bollinger squeeze", "Flags quiet markets before volatility expands.",
     ["volatility", "momentum"], "indicator", "volatility", 900, 30, 4.6, "alice", "approved"),
    ("Donchian channel crosses", "Unreviewed channel breakout.",
     ["trend"], "strategy", "trend", 0, 999, 5.0, "bob", "pending"),
    ("Withdrawn momentum scanner", "Taken down by its creator.",
     ["momentum"], "indicator", "momentum", 0, 500, 4.9, "alice", "removed"),
]
MA, RSI, BREAKOUT, PAIRS, SQUEEZE, DONCHIAN, WITHDRAWN = (row[0] for row in CATALOGUE)


def make_user(session: Session, name: str) -> User:
    user = User(name=name, email=f"{name}@example.org", roles=["user", "creator"], created_at=utcnow())
    session.add(user)
    session.flush()
    return user


def add_listing(session: Session, creator: User, title: str, *, age: int, description: str = "", tags: Any = (),
                kind: str = "indicator", category: str = "trend", price_minor: int = 0, purchases: int = 0,
                rating_avg: float = 0.0, status: str = "approved") -> Listing:
    """One listing row written directly; ``age`` in minutes before the start keeps created_at distinct."""
    created = START - timedelta(minutes=age)
    listing = Listing(slug=f"listing-{next(_slugs)}", creator_id=creator.id, kind=kind, title=title,
                      description=description, category=category, tags=list(tags), price_minor=price_minor,
                      currency="USD", licence="open", status=status, purchases=purchases, rating_avg=rating_avg,
                      rating_count=1 if rating_avg else 0, created_at=created, updated_at=created)
    session.add(listing)
    session.flush()
    return listing


@pytest.fixture
def catalogue(session: Session) -> dict[str, Listing]:
    users = {name: make_user(session, name) for name in ("alice", "bob")}
    listings = {}
    for age, (title, description, tags, kind, category, price, purchases, rating, creator, status) in enumerate(
            CATALOGUE):
        listings[title] = add_listing(session, users[creator], title, age=age, description=description, tags=tags,
                                      kind=kind, category=category, price_minor=price, purchases=purchases,
                                      rating_avg=rating, status=status)
    return listings


def titles(session: Session, **query: Any) -> list[str]:
    return [listing.title for listing in search(session, SearchQuery(**query)).items]


def walk(session: Session, query: SearchQuery) -> Iterator[SearchPage]:
    """Every page of ``query``, following the cursors to the end (a cursor that goes nowhere fails, not hangs)."""
    page = search(session, query)
    yield page
    for _ in range(100):
        if page.next_cursor is None:
            return
        page = search(session, replace(query, cursor=page.next_cursor))
        yield page
    pytest.fail("the cursors did not reach the last page within 100 pages")


# full text


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(("text", "expected"), [
    ("divergence", [RSI]),  # title (and description)
    ("cointegration", [PAIRS]),  # description only
    ("oscillator", [RSI]),  # a tag only
    ("stat-arb", [PAIRS]),  # a hyphenated tag
    ("Squeeze", [SQUEEZE]),  # case does not matter
    ("volatility breakout", [BREAKOUT]),  # every word must match
    ("crossing", [MA, PAIRS]),  # stemmed: "crosses" in a title outranks "crossing" in a description
    ("nonexistentword", []),
])
def test_text_finds_title_description_and_tag_words(session: Session, text: str, expected: list[str]) -> None:
    assert titles(session, text=text) == expected


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("title_first", [True, False])  # so that the id, which breaks ties, cannot decide
def test_a_title_match_ranks_above_a_description_only_match(session: Session, title_first: bool) -> None:
    creator = make_user(session, "carol")
    rows = [("Ichimoku cloud", "A plain indicator."),
            ("Plain indicator", "Reads the ichimoku lines on every bar of the chart for you.")]
    for number, (title, description) in enumerate(rows if title_first else rows[::-1]):
        add_listing(session, creator, title, age=100 + number, description=description)
    assert titles(session, text="ichimoku") == ["Ichimoku cloud", "Plain indicator"]


@pytest.mark.usefixtures("catalogue")
def test_blank_text_browses_everything_visible(session: Session) -> None:
    assert titles(session, text="   ") == titles(session) == [RSI, PAIRS, MA, SQUEEZE, BREAKOUT]


def test_an_edited_title_is_found_by_its_new_words_only(session: Session) -> None:
    creator = make_user(session, "dave")
    listing = add_listing(session, creator, "Keltner scanner", age=0, description="Channels.", tags=["bands"])
    assert titles(session, text="keltner") == ["Keltner scanner"]
    listing.title = "Gamma sweeper"
    listing.tags = ["options"]
    session.flush()
    assert titles(session, text="keltner") == []
    assert titles(session, text="bands") == []
    assert titles(session, text="sweeper") == ["Gamma sweeper"]
    assert titles(session, text="options") == ["Gamma sweeper"]
    session.delete(listing)
    session.flush()
    assert titles(session, text="sweeper") == []


HOSTILE = ['"unbalanced', "AND OR NOT", "*", "title:x", "NEAR(", "'; drop table listings; --", '"', "-", "^",
           "a:b:c", "(((", "\\", "NOT", "OR", "\x00", "crosses*", "cross AND", "'", "!", "& | !", "volatility -",
           "Ünïcödé ☃ 日本語", "%_", "NEAR(crosses breakout, 2)", "{title description}: x", "x" * 200,
           "crosses\x00breakout", "_", "crosses _", '""*', "a " * 100]


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_returns_results_or_nothing(session: Session, text: str) -> None:
    for sort in ("relevance", "newest"):
        page = search(session, SearchQuery(text=text, sort=sort, limit=2))
        assert all(isinstance(listing, Listing) for listing in page.items)
        if page.next_cursor:
            search(session, SearchQuery(text=text, sort=sort, limit=2, cursor=page.next_cursor))
    assert session.scalar(select(func.count()).select_from(Listing)) == len(CATALOGUE)


# filters and visibility


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(("query", "expected"), [
    ({"kind": "strategy"}, [BREAKOUT]),
    ({"kind": "notebook"}, [PAIRS]),
    ({"category": "volatility"}, [SQUEEZE, BREAKOUT]),
    ({"free": True}, [PAIRS, MA]),
    ({"free": False}, [RSI, SQUEEZE, BREAKOUT]),
    ({"min_price_minor": 1000}, [RSI, BREAKOUT]),
    ({"max_price_minor": 1000}, [PAIRS, MA, SQUEEZE]),
    ({"min_price_minor": 500, "max_price_minor": 2000}, [RSI, SQUEEZE]),
    ({"min_price_minor": 900, "max_price_minor": 900}, [SQUEEZE]),
    ({"min_rating": 4.5}, [RSI, MA, SQUEEZE]),
    ({"creator": "alice"}, [MA, SQUEEZE, BREAKOUT]),
    ({"creator": "nobody"}, []),
    ({"free": True, "min_price_minor": 500}, []),  # nothing can be both
    ({"free": False, "max_price_minor": 0}, []),
    ({"free": False, "max_price_minor": 900}, [SQUEEZE]),
    ({"tags": ("volatility",)}, [SQUEEZE, BREAKOUT]),
    ({"tags": ("volatility", "momentum")}, [SQUEEZE]),
    ({"tags": ("trend",)}, [MA]),
    ({"tags": ("Trend",)}, []),
    ({"tags": ("stat-arb", "mean-reversion")}, [PAIRS]),
    ({"text": "volatility", "free": False, "sort": "price"}, [SQUEEZE, BREAKOUT]),
    ({"text": "momentum", "creator": "alice"}, [SQUEEZE]),
    ({"kind": "indicator", "free": False, "min_rating": 4.7, "tags": ("momentum",)}, [RSI]),
])
def test_each_filter(session: Session, query: dict[str, Any], expected: list[str]) -> None:
    assert titles(session, **{"sort": "popular", **query}) == expected


@pytest.mark.usefixtures("catalogue")
def test_a_page_comes_with_its_creators_loaded(session: Session) -> None:
    items = search(session, SearchQuery(sort="newest")).items
    assert all("creator" not in inspect(listing).unloaded for listing in items)
    assert [listing.creator.name for listing in items] == ["alice", "bob", "alice", "bob", "alice"]


@pytest.mark.usefixtures("catalogue")
def test_only_approved_listings_are_shown_unless_asked(session: Session) -> None:
    assert DONCHIAN not in titles(session) and WITHDRAWN not in titles(session)
    assert titles(session, text="donchian") == []
    assert titles(session, text="donchian", statuses=("approved", "pending")) == [DONCHIAN]
    assert titles(session, statuses=("pending", "removed")) == [DONCHIAN, WITHDRAWN]
    assert titles(session, text="momentum", statuses=("removed",)) == [WITHDRAWN]


# sorts and pages


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize(("sort", "expected"), [
    ("relevance", [RSI, PAIRS, MA, SQUEEZE, BREAKOUT]),  # no text: most popular first
    ("popular", [RSI, PAIRS, MA, SQUEEZE, BREAKOUT]),
    ("rating", [RSI, SQUEEZE, MA, PAIRS, BREAKOUT]),
    ("newest", [MA, RSI, BREAKOUT, PAIRS, SQUEEZE]),
    ("price", [MA, PAIRS, SQUEEZE, RSI, BREAKOUT]),  # equal prices: older id first
    ("price_desc", [BREAKOUT, RSI, SQUEEZE, PAIRS, MA]),  # and the reverse
])
def test_each_sort_order(session: Session, sort: str, expected: list[str]) -> None:
    assert titles(session, sort=sort) == expected
    walked = [listing.title for page in walk(session, SearchQuery(sort=sort, limit=2))  # type: ignore[arg-type]
              for listing in page.items]
    assert walked == expected


@pytest.fixture
def twins(session: Session) -> list[Listing]:
    """23 listings with the same words and only a few distinct prices, sales and ratings: ties everywhere."""
    creator = make_user(session, "erin")
    return [add_listing(session, creator, "Twin momentum indicator", age=index, tags=["twin"],
                        description="Identical description of a twin.", price_minor=500 * (index % 2),
                        purchases=index % 3, rating_avg=(4.0, 4.5)[index % 2]) for index in range(23)]


def expected_order(listings: list[Listing], sort: str) -> list[int]:
    keys = {"popular": lambda row: (row.purchases, row.id), "rating": lambda row: (row.rating_avg, row.id),
            "newest": lambda row: (row.created_at, row.id), "price": lambda row: (row.price_minor, row.id),
            "price_desc": lambda row: (row.price_minor, row.id)}
    return [row.id for row in sorted(listings, key=keys[sort], reverse=sort != "price")]


@pytest.mark.parametrize("limit", [1, 4, 22, 23])
@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("text", ["", "twin"])
def test_pages_visit_every_row_once_in_order_despite_ties(session: Session, twins: list[Listing], sort: str,
                                                          limit: int, text: str) -> None:
    query = SearchQuery(text=text, sort=sort, limit=limit)  # type: ignore[arg-type]
    pages = list(walk(session, query))
    seen = [listing.id for page in pages for listing in page.items]
    assert len(seen) == len(set(seen)) == len(twins)
    assert all(len(page.items) == limit for page in pages[:-1]) and pages[-1].next_cursor is None
    assert 0 < len(pages[-1].items) <= limit
    if sort == "relevance" and text:  # every twin has the same rank: the id alone decides, newest first
        assert seen == sorted(seen, reverse=True)
    else:
        assert seen == expected_order(twins, "popular" if sort == "relevance" else sort)


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("text", ["volatility", "momentum", "crossing", "trend breakout"])
def test_relevance_pages_match_one_long_page(session: Session, text: str) -> None:
    whole = [listing.id for listing in search(session, SearchQuery(text=text, limit=100)).items]
    walked = [listing.id for page in walk(session, SearchQuery(text=text, limit=1)) for listing in page.items]
    assert walked == whole


@pytest.mark.usefixtures("twins")
def test_rows_added_between_pages_neither_repeat_nor_hide_others(session: Session) -> None:
    first = search(session, SearchQuery(sort="newest", limit=5))
    add_listing(session, make_user(session, "frank"), "Twin latecomer", age=-10)  # newer than every row
    rest = [listing.id for page in walk(session, SearchQuery(sort="newest", limit=5, cursor=first.next_cursor))
            for listing in page.items]
    assert len(first.items) + len(rest) == 23
    assert not {listing.id for listing in first.items} & set(rest)


# invalid input


@pytest.mark.parametrize(("query", "message"), [
    ({"limit": 0}, "limit"),
    ({"limit": 101}, "limit"),
    ({"sort": "cheapest"}, "Unknown sort"),
    ({"min_price_minor": 500, "max_price_minor": 100}, "above max_price_minor"),
    ({"min_price_minor": -1}, "min_price_minor"),
    ({"min_rating": 6}, "min_rating"),
    ({"statuses": ()}, "statuses"),
    ({"statuses": ("approved", "bogus")}, "bogus"),
    ({"text": "x" * 201}, "200 characters"),
    ({"tags": ("",)}, "tags"),
    ({"tags": ("trend\x00",)}, "NUL"),
    ({"category": "\x00"}, "NUL"),
    ({"cursor": "not a cursor!"}, "cursor"),
    ({"cursor": "e30"}, "cursor"),  # {}
    ({"cursor": "W10"}, "cursor"),  # []
    ({"cursor": "eyJzb3J0IjoicG9wdWxhciIsImtleSI6IngiLCJpZCI6MX0"}, "cursor"),  # a string key for a count
    ({"cursor": "eyJzb3J0IjoicG9wdWxhciIsImtleSI6MSwiaWQiOjF9", "sort": "rating"}, "different sort"),
    ({"cursor": "eyJzb3J0IjoicmF0aW5nIiwia2V5IjpOYU4sImlkIjoxfQ", "sort": "rating"}, "cursor"),  # NaN
])
def test_invalid_input_is_refused_with_a_reason(session: Session, query: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        search(session, SearchQuery(**query))


@pytest.mark.usefixtures("catalogue")
def test_a_cursor_only_works_for_the_search_that_made_it(session: Session) -> None:
    cursor = search(session, SearchQuery(sort="newest", limit=1)).next_cursor
    assert cursor is not None
    assert len(search(session, SearchQuery(sort="newest", limit=1, cursor=cursor)).items) == 1
    with pytest.raises(InvalidInput, match="different sort"):
        search(session, SearchQuery(sort="price", cursor=cursor))
    relevance = search(session, SearchQuery(text="volatility", limit=1)).next_cursor
    assert relevance is not None
    with pytest.raises(InvalidInput, match="different sort or search text"):
        search(session, SearchQuery(text="momentum", cursor=relevance))
    with pytest.raises(InvalidInput, match="cursor"):
        search(session, SearchQuery(sort="newest", cursor=cursor[:-3]))


# remembered relevance pages


@pytest.fixture
def committed(database: Database) -> Iterator[dict[str, Listing]]:
    """Two listings committed for real (the cache only keeps what others can see), deleted afterwards."""
    with database.session() as session:
        creator = make_user(session, f"kagi-{next(_slugs)}")
        rows = {title: add_listing(session, creator, title, age=-1, description=description)
                for title, description in (("Kagi reversal", "Kagi lines flip on reversals."),
                                           ("Renko bricks", "Bricks of a fixed size; kagi lines are cousins."))}
    yield rows
    with database.session() as session:
        session.execute(delete(Listing).where(Listing.creator_id == creator.id))
        session.execute(delete(User).where(User.id == creator.id))


def other_process_sets(database: Database, listing: Listing, **values: str) -> None:
    """Change a row as another process would: plain SQL on a connection of its own, unseen by this one's ORM."""
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    with database.engine.begin() as connection:
        connection.execute(sql(f"UPDATE listings SET {assignments} WHERE id = :id"), {**values, "id": listing.id})


def kagi(database: Database) -> list[tuple[str, str]]:
    with database.sessions() as session:
        return [(listing.title, listing.status) for listing in search(session, SearchQuery(text="kagi")).items]


def test_a_ranked_page_is_remembered_but_its_rows_are_read_fresh(database: Database,
                                                                committed: dict[str, Listing]) -> None:
    assert kagi(database) == [("Kagi reversal", "approved"), ("Renko bricks", "approved")]
    reversal, bricks = committed.values()
    # Another process renames one and suspends the other: the remembered ranking still holds the renamed row
    # (with its new title: rows are never remembered) and the suspended one is left out at once.
    other_process_sets(database, reversal, title="Point and figure", description="Boxes and columns.")
    other_process_sets(database, bricks, status="suspended")
    assert kagi(database) == [("Point and figure", "approved")]
    # A commit to listings from this process forgets every remembered ranking: the rename now counts.
    with database.session() as session:
        session.get_one(Listing, bricks.id).status = "approved"
    assert kagi(database) == [("Renko bricks", "approved")]


def test_a_session_sees_its_own_listing_writes_and_does_not_share_them(database: Database,
                                                                      committed: dict[str, Listing]) -> None:
    assert len(kagi(database)) == 2
    with database.sessions() as session:
        add_listing(session, session.get_one(User, committed["Kagi reversal"].creator_id), "Kagi breakout",
                    age=-2, description="Buys when the kagi line turns thick.")
        assert sorted(item.title for item in search(session, SearchQuery(text="kagi")).items) == [
            "Kagi breakout", "Kagi reversal", "Renko bricks"]
        session.rollback()
    assert [title for title, _ in kagi(database)] == ["Kagi reversal", "Renko bricks"]


def test_remembered_pages_expire() -> None:
    now = [0.0]
    pages = RankedPages(ttl=30, timer=lambda: now[0])
    with Session() as session:
        pages.put(session, "momentum", CachedPage((1, 2), None), pages.generation)
        assert pages.get(session, "momentum") == CachedPage((1, 2), None)
        now[0] = 30.5
        assert pages.get(session, "momentum") is None
        stale = pages.generation
        pages.clear()
        pages.put(session, "momentum", CachedPage((3,), None), stale)  # computed before the clear: not kept
        assert pages.get(session, "momentum") is None
