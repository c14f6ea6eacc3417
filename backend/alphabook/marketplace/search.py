"""Browsing and full-text search of listings, one page at a time.

The databases do the heavy lifting: SQLite's FTS5 (an external-content index of title, description and tags
with the Porter stemmer, ranked by ``bm25`` with the title weighted highest) and PostgreSQL's full-text search
(a generated, weighted ``tsvector`` column behind a GIN index, queried with ``websearch_to_tsquery`` and ranked
by ``ts_rank_cd``). Both objects are made by migration ``0002``, not by the models, which is why they are
reached here by name.

Pages are cut with keyset pagination, never ``OFFSET``: every sort is a total order ending in the listing id,
and the opaque cursor carries the last row's sort key and id, so page 500 costs what page 1 costs and a row
inserted meanwhile neither repeats nor hides another. For relevance the rank itself is the key; it is a pure
function of the query and the indexed text, so the next page recomputes the same values.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import (
    Double,
    Float,
    Integer,
    Select,
    cast,
    column,
    exists,
    func,
    literal,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy import table as table_clause
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.sql.elements import ColumnElement

from alphabook.accounts.models import User
from alphabook.core.errors import InvalidInput
from alphabook.marketplace import ranked_pages
from alphabook.marketplace.models import Listing, ListingStatus

__all__ = ["MAX_LIMIT", "MAX_TEXT", "SORTS", "SearchPage", "SearchQuery", "Sort", "search"]

Sort = Literal["relevance", "popular", "rating", "newest", "price", "price_desc"]
SORTS: tuple[str, ...] = get_args(Sort)
MAX_LIMIT = 100
MAX_TEXT = 200  # characters of search text; longer is not a search, it is a paste
MAX_TAGS = 10
_BIG = 2**63

#: FTS5 column weights for title, description, tags.
_BM25_WEIGHTS = (10.0, 1.0, 5.0)
_FTS = table_clause("listings_fts", column("rowid", Integer))
_FTS_TABLE: ColumnElement[Any] = literal_column("listings_fts")
_TS_VECTOR: ColumnElement[Any] = literal_column("listings.search_vector")
_TS_CONFIG: ColumnElement[Any] = literal_column("'english'::regconfig")
_WORD = re.compile(r"\w+")
_ID = Listing.__table__.c.id
#: The listing attribute each browse sort orders by (then by id); relevance orders by the text rank.
_KEYS = {"popular": "purchases", "rating": "rating_avg", "newest": "created_at", "price": "price_minor",
         "price_desc": "price_minor"}


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What a visitor asks for. Every filter is optional; ``tags`` must all be present on a listing."""

    text: str = ""
    kind: str | None = None
    category: str | None = None
    free: bool | None = None  # True: price 0 only; False: paid only
    min_price_minor: int | None = None
    max_price_minor: int | None = None
    min_rating: float | None = None
    creator: str | None = None  # the creator's user name
    tags: tuple[str, ...] = ()
    sort: Sort = "relevance"  # without text, relevance means popular
    cursor: str | None = None  # ``SearchPage.next_cursor`` of the previous page
    limit: int = 20
    statuses: tuple[str, ...] = (ListingStatus.APPROVED.value,)


@dataclass(frozen=True, slots=True)
class SearchPage:
    items: list[Listing]
    next_cursor: str | None  # None on the last page


@dataclass(frozen=True, slots=True)
class _Order:
    """A sort key and its direction; the id, in the same direction, breaks ties into a total order."""

    key: ColumnElement[Any]
    descending: bool
    id: ColumnElement[Any]

    def clauses(self) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
        if self.descending:
            return self.key.desc(), self.id.desc()
        return self.key.asc(), self.id.asc()


def search(session: Session, query: SearchQuery) -> SearchPage:
    """One page of listings matching ``query``, in its sort order; raises InvalidInput for a bad query."""
    _validate(query)
    text = query.text.replace("\x00", " ").strip()  # PostgreSQL refuses NUL in text; it is no word anyway
    sort = query.sort if query.sort != "relevance" or _WORD.search(text) else "popular"
    if sort != "relevance":
        return _search(session, query, text, sort)
    # Ranking every match is the one costly search; its pages are remembered for a while (see ranked_pages).
    key = (session.get_bind().engine.url.render_as_string(), query)
    cached = ranked_pages.pages.get(session, key)
    if cached is not None:
        return SearchPage(items=_read_page(session, cached.ids, query.statuses), next_cursor=cached.next_cursor)
    generation = ranked_pages.pages.generation
    page = _search(session, query, text, sort)
    ranked_pages.pages.put(session, key, ranked_pages.CachedPage(tuple(item.id for item in page.items),
                                                               page.next_cursor), generation)
    return page


def _search(session: Session, query: SearchQuery, text: str, sort: str) -> SearchPage:
    fingerprint = _fingerprint(text) if sort == "relevance" else None
    after = _decode_cursor(query.cursor, sort, fingerprint) if query.cursor is not None else None
    prices = _price_range(query)
    if prices is None:
        return SearchPage(items=[], next_cursor=None)
    dialect = session.get_bind().dialect.name
    keys, order = _candidates(query, dialect, sort, text, prices, fenced=after is not None)
    if after is not None:
        keys = keys.where(_after(order, *after))
    # The page is chosen from ids and sort keys alone; only its own rows are then read whole, with their creators.
    page_keys = keys.order_by(*order.clauses()).limit(query.limit + 1).subquery()
    statement = (select(Listing, page_keys.c.key).join(page_keys, page_keys.c.id == Listing.id)
                 .options(joinedload(Listing.creator, innerjoin=True))
                 .order_by(*_Order(page_keys.c.key, order.descending, _ID).clauses()))
    rows = session.execute(statement).all()
    page = rows[:query.limit]
    next_cursor = None
    if len(rows) > query.limit:
        next_cursor = _encode_cursor(sort, page[-1][1], page[-1][0].id, fingerprint)
    return SearchPage(items=[row[0] for row in page], next_cursor=next_cursor)


def _read_page(session: Session, ids: Sequence[int], statuses: Sequence[str]) -> list[Listing]:
    """The listings of a remembered page, read now, in its order; those no longer in ``statuses`` are left out."""
    if not ids:
        return []
    rows = session.scalars(select(Listing).where(Listing.id.in_(ids), _status_is(statuses))
                           .options(joinedload(Listing.creator, innerjoin=True))).all()
    by_id = {listing.id: listing for listing in rows}
    return [by_id[listing_id] for listing_id in ids if listing_id in by_id]


def _candidates(query: SearchQuery, dialect: str, sort: str, text: str, prices: tuple[int | None, int | None], *,
                fenced: bool) -> tuple[Select[Any], _Order]:
    """``SELECT id, key`` of every matching listing, and the order to page through them in.

    With ``fenced``, a relevance rank is computed once per match in a materialised CTE; otherwise the planner
    would compute it a second time for the cursor's comparison (a third more work on deep pages).
    """
    statement: Select[Any] = select(Listing.id).where(*_filters(query, dialect, prices))
    relevance: _Order | None = None
    terms = _WORD.findall(text)
    if terms:
        statement, relevance = _match(statement, dialect, text, terms)
    if sort != "relevance":
        column = Listing.__table__.c[_KEYS[sort]]
        return statement.add_columns(column.label("key")), _Order(column, sort != "price", _ID)
    assert relevance is not None
    if not fenced:
        return statement.add_columns(relevance.key.label("key")), relevance
    ranked = statement.add_columns(relevance.key.label("key")).cte("ranked").prefix_with("MATERIALIZED")
    return select(ranked.c.id, ranked.c.key), _Order(ranked.c.key, relevance.descending, ranked.c.id)


def _validate(query: SearchQuery) -> None:
    if isinstance(query.limit, bool) or not isinstance(query.limit, int) or not 1 <= query.limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {query.limit!r}.")
    if query.sort not in SORTS:
        raise InvalidInput(f"Unknown sort {query.sort!r}; use one of: {', '.join(SORTS)}.")
    if len(query.text) > MAX_TEXT:
        raise InvalidInput(f"Search text is limited to {MAX_TEXT} characters; shorten it.")
    for name in ("min_price_minor", "max_price_minor"):
        value = getattr(query, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _BIG):
            raise InvalidInput(f"{name} must be a whole number of minor units, zero or more, not {value!r}.")
    if (query.min_price_minor is not None and query.max_price_minor is not None
            and query.min_price_minor > query.max_price_minor):
        raise InvalidInput(f"min_price_minor ({query.min_price_minor}) is above max_price_minor "
                           f"({query.max_price_minor}); swap them or drop one.")
    if query.min_rating is not None and not 0 <= query.min_rating <= 5:
        raise InvalidInput(f"min_rating must be between 0 and 5 stars, not {query.min_rating!r}.")
    if len(query.tags) > MAX_TAGS or not all(isinstance(tag, str) and tag for tag in query.tags):
        raise InvalidInput(f"tags must be up to {MAX_TAGS} non-empty words.")
    for name in ("kind", "category", "creator", "tags"):
        value = getattr(query, name)
        if any("\x00" in item for item in ((value,) if isinstance(value, str) else value or ())):
            raise InvalidInput(f"{name} must not contain NUL characters.")
    unknown = sorted(set(query.statuses) - {status.value for status in ListingStatus})
    if not query.statuses or unknown:
        raise InvalidInput(f"statuses must name at least one of: {', '.join(ListingStatus)} (unknown: {unknown}).")


def _price_range(query: SearchQuery) -> tuple[int | None, int | None] | None:
    """The (lowest, highest) price asked for, ``free`` included; None when no price can satisfy both."""
    low, high = query.min_price_minor, query.max_price_minor
    if query.free is True:
        high = 0
    elif query.free is False:
        low = max(low or 0, 1)
    if low is not None and high is not None and low > high:
        return None
    return low, high


def _filters(query: SearchQuery, dialect: str, prices: tuple[int | None, int | None]) -> list[ColumnElement[bool]]:
    conditions = [_status_is(query.statuses)]
    if query.kind is not None:
        conditions.append(Listing.kind == query.kind)
    if query.category is not None:
        conditions.append(Listing.category == query.category)
    low, high = prices
    if low is not None and low == high:
        conditions.append(Listing.price_minor == low)
    else:
        if low is not None:
            conditions.append(Listing.price_minor >= low)
        if high is not None:
            conditions.append(Listing.price_minor <= high)
    if query.min_rating is not None:
        conditions.append(Listing.rating_avg >= query.min_rating)
    if query.creator is not None:
        conditions.append(Listing.creator_id == select(User.id).where(User.name == query.creator).scalar_subquery())
    if query.tags:
        conditions.extend(_has_tags(query.tags, dialect))
    return conditions


def _status_is(statuses: Sequence[str]) -> ColumnElement[bool]:
    return Listing.status == statuses[0] if len(statuses) == 1 else Listing.status.in_(statuses)


def _has_tags(tags: Sequence[str], dialect: str) -> list[ColumnElement[bool]]:
    """The listing's JSON list of tags holds every one of ``tags``."""
    if dialect == "postgresql":  # the column is json; jsonb has containment
        return [cast(Listing.tags, JSONB).contains(sorted(set(tags)))]
    conditions: list[ColumnElement[bool]] = []
    for tag in tags:
        each = func.json_each(Listing.tags).table_valued("value")
        conditions.append(exists(select(1).select_from(each).where(each.c.value == tag)))
    return conditions


def _match(statement: Select[Any], dialect: str, text: str, terms: Sequence[str]) -> tuple[Select[Any], _Order]:
    """Restrict ``statement`` to full-text matches; return it with the order of relevance, best first."""
    if dialect == "postgresql":
        # websearch_to_tsquery accepts any text (quotes, "or", "-word") and never raises a syntax error.
        tsquery = func.websearch_to_tsquery(_TS_CONFIG, literal(text))
        rank = cast(func.ts_rank_cd(_TS_VECTOR, tsquery), Double)  # real -> double: exact round trip in cursors
        return statement.where(_TS_VECTOR.op("@@")(tsquery)), _Order(rank, descending=True, id=_ID)
    # FTS5 gets only quoted words, so no operator, column filter or stray quote of the user's can reach its parser.
    phrases = " ".join(f'"{term}"' for term in terms) + "*"
    bm25 = func.bm25(_FTS_TABLE, *(literal_column(repr(weight)) for weight in _BM25_WEIGHTS), type_=Float)
    statement = statement.join(_FTS, _FTS.c.rowid == Listing.id).where(_FTS_TABLE.match(phrases))
    return statement, _Order(-bm25, descending=True, id=_ID)  # bm25 is lower-is-better; negated, ties go as on PG


def _after(order: _Order, key: Any, last_id: int) -> ColumnElement[bool]:
    """Rows strictly after (``key``, ``last_id``) in the order: one row-value comparison the index can seek to."""
    bound = tuple_(literal(key, order.key.type), literal(last_id, Integer))
    current = tuple_(order.key, order.id)
    return current < bound if order.descending else current > bound


def _fingerprint(text: str) -> str:
    """A short digest of the search text, so a relevance cursor is only accepted for the query that made it."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _encode_cursor(sort: str, key: Any, last_id: int, fingerprint: str | None) -> str:
    payload: dict[str, Any] = {"sort": sort, "key": key.isoformat() if isinstance(key, datetime) else key,
                               "id": last_id}
    if fingerprint is not None:
        payload["text"] = fingerprint
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str, fingerprint: str | None) -> tuple[Any, int]:
    """The (key, id) a cursor carries, checked against the sort and text it must have come from."""
    unknown = InvalidInput("The cursor is not one this search gave out; start again from the first page.")
    try:
        padded = cursor.encode("ascii") + b"=" * (-len(cursor) % 4)
        payload = json.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
    except (ValueError, binascii.Error) as error:
        raise unknown from error
    if not isinstance(payload, dict) or not _is_int(payload.get("id")):
        raise unknown
    if payload.get("sort") != sort or payload.get("text") != fingerprint:
        raise InvalidInput("The cursor belongs to a different sort or search text; start again from the first page.")
    try:
        return _decode_key(sort, payload.get("key")), payload["id"]
    except (ValueError, TypeError) as error:
        raise unknown from error


def _decode_key(sort: str, value: Any) -> Any:
    if sort == "newest":
        moment = datetime.fromisoformat(value)  # TypeError / ValueError for anything but an ISO string
        if moment.tzinfo is None:
            raise ValueError("naive timestamp")
        return moment
    if sort in ("rating", "relevance"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError("bad number")
        return float(value)
    if not _is_int(value):
        raise ValueError("bad whole number")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -_BIG <= value < _BIG
