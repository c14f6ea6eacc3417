"""News items out of RSS and Atom feeds, and one item per story however many feeds carry it.

feedparser does the heavy lifting: it reads RSS 0.9x/1.0/2.0 and Atom 0.3/1.0, tolerates the malformed XML that
real feeds serve, and gives every entry the same fields. This module turns its entries into :class:`FeedItem`
values (plain text, aware UTC times) and de-duplicates them: the same story arrives through several feeds, and a
feed re-publishes an item when it corrects it, so two items are one story when they share a GUID, a link, or a
title once case, punctuation and spacing are ignored; the most recently updated version wins.
"""

from __future__ import annotations

import calendar
import html
import re
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from alphabook.core.errors import InvalidInput

__all__ = ["FeedItem", "ParsedFeed", "dedupe", "normalise_title", "parse_feed"]

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^\w\s]")


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One news item as a feed published it; ``guid`` is the feed's id, else its link, else its title."""

    guid: str
    link: str
    title: str
    summary: str
    published: datetime | None
    updated: datetime | None
    source: str  # the feed's title, or its address when it has none

    @property
    def text(self) -> str:
        """What is scored and searched for symbols: the headline and its summary."""
        return f"{self.title}. {self.summary}" if self.summary else self.title

    @property
    def changed_at(self) -> datetime | None:
        """When this version was written: the feed's update time, else its publication time."""
        return self.updated or self.published


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    title: str
    items: list[FeedItem]


def parse_feed(content: bytes | str, *, address: str) -> ParsedFeed:
    """The items of an RSS or Atom document (``address`` names it in messages and stands in for a missing title).

    Raises InvalidInput when the document is not a feed at all; a feed with recoverable XML errors, as real feeds
    often are, still yields what feedparser could read.
    """
    parsed: Any = feedparser.parse(content)
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception") or "no RSS or Atom element"
        raise InvalidInput(f"{address} is not an RSS or Atom feed ({problem})")
    title = _plain(parsed.feed.get("title", "")) or address
    items = [item for entry in parsed.entries if (item := _item(entry, title)) is not None]
    return ParsedFeed(title=title, items=items)


def dedupe(items: Iterable[FeedItem]) -> list[FeedItem]:
    """One item per story, in first-seen order, each the most recently changed version of its story.

    Items are the same story when they share a GUID, a link or a normalised title (:func:`normalise_title`).
    """
    kept: list[FeedItem] = []
    seen: dict[str, int] = {}
    for item in items:
        keys = identity_keys(item)
        index = next((seen[key] for key in keys if key in seen), None)
        if index is None:
            index = len(kept)
            kept.append(item)
        elif _newer(item, kept[index]):
            kept[index] = item
        for key in keys:
            seen.setdefault(key, index)
    return kept


def identity_keys(item: FeedItem) -> list[str]:
    """The keys under which an item is recognised again: its GUID, its link and its normalised title."""
    keys = [f"guid:{item.guid}"]
    if item.link:
        keys.append(f"link:{item.link}")
    if title := normalise_title(item.title):
        keys.append(f"title:{title}")
    return keys


def normalise_title(title: str) -> str:
    """A title as compared for duplicates: accents folded, case and punctuation dropped, spaces collapsed."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return _SPACE.sub(" ", _NOT_WORD.sub(" ", folded.casefold())).strip()


def _newer(candidate: FeedItem, current: FeedItem) -> bool:
    if candidate.changed_at is None:
        return False
    return current.changed_at is None or candidate.changed_at > current.changed_at


def _item(entry: Any, source: str) -> FeedItem | None:
    title = _plain(entry.get("title", ""))
    link = str(entry.get("link", "")).strip()
    if not title:
        return None  # nothing to read, score or match
    guid = str(entry.get("id", "")).strip() or link or normalise_title(title)
    # dict.get: feedparser's own get() would answer a missing update time with the publication time, and warn
    return FeedItem(guid=guid, link=link, title=title, summary=_plain(entry.get("summary", "")),
                    published=_utc(entry.get("published_parsed")), updated=_utc(dict.get(entry, "updated_parsed")),
                    source=source)


def _plain(text: str) -> str:
    """Feed HTML as one line of text: tags dropped, entities decoded, whitespace collapsed."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", text or ""))).strip()


def _utc(moment: time.struct_time | None) -> datetime | None:
    """feedparser's parsed times are UTC ``struct_time``s."""
    if moment is None:
        return None
    return datetime.fromtimestamp(calendar.timegm(moment), tz=UTC)
