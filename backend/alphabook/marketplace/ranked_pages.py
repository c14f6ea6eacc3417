"""A short-lived, per-process memory of relevance-ranked search pages.

Ranking a common word means scoring every listing that holds it ("momentum" is in a third of a large
catalogue): neither FTS5's ``bm25`` nor PostgreSQL's ``ts_rank_cd`` has an index that yields rows in rank
order, so that work is the same for every visitor who types the word, and it is most of what search costs.
The page's ids and next cursor are kept here for :data:`TTL` seconds, the near-real-time contract of a search
engine's refresh interval, and forgotten at once when this process commits or rolls back a change to any
listing. Rows are never kept: a page served from here is read fresh by id, and listings that have since left
the searched statuses are dropped from it.

cachetools' ``TTLCache`` does the expiry and the least-recently-used bookkeeping; SQLAlchemy's session events
tell us when listings were written.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from itertools import chain

from cachetools import TTLCache
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, UOWTransaction

from alphabook.marketplace.models import Listing

__all__ = ["TTL", "CachedPage", "RankedPages", "pages"]

TTL = 30.0  # seconds another process's change may take to show in a cached relevance page
MAX_PAGES = 4096
_WROTE_LISTINGS = "alphabook.wrote_listings"


@dataclass(frozen=True, slots=True)
class CachedPage:
    ids: tuple[int, ...]
    next_cursor: str | None


class RankedPages:
    """Pages by query key; thread-safe, since the API answers requests on a thread pool."""

    def __init__(self, maxsize: int = MAX_PAGES, ttl: float = TTL, timer: Callable[[], float] = time.monotonic) -> None:
        self._pages: TTLCache[Hashable, CachedPage] = TTLCache(maxsize=maxsize, ttl=ttl, timer=timer)
        self._lock = threading.Lock()
        self._generation = 0  # bumped by clear(): a page computed before a clear is not kept after it

    @property
    def generation(self) -> int:
        """Read before computing a page and hand to :meth:`put`."""
        return self._generation

    def get(self, session: Session, key: Hashable) -> CachedPage | None:
        """The page kept for ``key``, unless this session has written listings it would not reflect."""
        if session.info.get(_WROTE_LISTINGS):
            return None
        with self._lock:
            return self._pages.get(key)

    def put(self, session: Session, key: Hashable, page: CachedPage, generation: int) -> None:
        """Keep ``page``, unless it was computed from this session's own uncommitted listings, or listings
        were committed since ``generation`` was read (the page may predate them)."""
        if session.info.get(_WROTE_LISTINGS):
            return
        with self._lock:
            if generation == self._generation:
                self._pages[key] = page

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._pages.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._pages)


pages = RankedPages()


@event.listens_for(Session, "after_flush")
def _note_flushed_listings(session: Session, _flush: UOWTransaction) -> None:
    if any(isinstance(item, Listing) for item in chain(session.new, session.dirty, session.deleted)):
        session.info[_WROTE_LISTINGS] = True


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_listing_writes(state: ORMExecuteState) -> None:
    if (state.is_insert or state.is_update or state.is_delete) and any(
            mapper.class_ is Listing for mapper in state.all_mappers):
        state.session.info[_WROTE_LISTINGS] = True


@event.listens_for(Session, "after_transaction_end")
def _forget_after_listing_writes(session: Session, transaction: SessionTransaction) -> None:
    """Committed or rolled back, a write to listings may change any ranking: forget them all. The session's own
    mark lasts until its outermost transaction ends, as its later reads still see its savepoints' writes."""
    if session.info.get(_WROTE_LISTINGS):
        pages.clear()
        if transaction.parent is None:
            del session.info[_WROTE_LISTINGS]
