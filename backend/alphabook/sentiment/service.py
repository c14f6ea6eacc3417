"""The sentiment verbs: refresh the news from the configured feeds and recompute the Fear & Greed index.

This module is the only writer of the news tables. A refresh fetches every feed, parses and scores the
de-duplicated stories first (:mod:`.fetch`, :mod:`alphabook.research.sentiment`; outside any transaction, since
feeds can be slow and FinBERT takes seconds), then in one transaction records each feed's answer, stores the
stories with their score and symbols, and stores a Fear & Greed snapshot from the market data (any
``DataSource``: the bundled offline samples by default) and the sentiment of the market's base asset.

A story seen again (same GUID, link or normalised title) is one row: it is rewritten and rescored only when the
feed's version is newer than the stored one. Two refreshes racing on one new story meet the unique GUID: the
loser's insert fails inside its savepoint and the story counts as already there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.errors import AlphabookError, InvalidInput
from alphabook.research.data import BundledSource, DataSource, FileSource, parse_symbol
from alphabook.research.sentiment import (
    SAMPLE_FEED,
    FearGreed,
    FeedItem,
    Score,
    ScorerChoice,
    Watchlist,
    choose_scorer,
    dedupe,
    fear_greed,
    normalise_title,
    parse_feed,
    summarise,
)
from alphabook.sentiment import queries
from alphabook.sentiment.fetch import Fetched, fetch_feed
from alphabook.sentiment.models import FearGreedSnapshot, NewsFeed, NewsItem, NewsMention

__all__ = ["FeedOutcome", "RefreshReport", "configured_feeds", "market_source", "refresh", "update_fear_greed"]


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    address: str
    status: str
    items: int  # items the document held (0 when not modified or failed)
    failed: bool


@dataclass(slots=True)
class RefreshReport:
    feeds: list[FeedOutcome] = field(default_factory=list)
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    scorer: str = ""
    finbert: str = ""
    fear_greed: FearGreed | None = None
    fear_greed_problem: str | None = None

    @property
    def failed_feeds(self) -> list[FeedOutcome]:
        return [each for each in self.feeds if each.failed]

    def lines(self) -> list[str]:
        """The report in words, one line each: what the CLI and the platform job print."""
        told = [f"{len(self.feeds)} feeds read: {self.new} new stories, {self.updated} updated, "
                f"{self.unchanged} already stored; scored with {self.scorer} ({self.finbert})"]
        told += [f"  {'FAILED' if each.failed else 'ok    '} {each.address}: {each.status}" for each in self.feeds]
        if self.fear_greed is not None:
            told.append(f"Fear & Greed {self.fear_greed.value} ({self.fear_greed.label}) as of "
                        f"{self.fear_greed.as_of:%Y-%m-%d %H:%M} UTC: " + ", ".join(
                            f"{each.name} {each.score:.0f} x {each.weight:.2f}" for each in self.fear_greed.components))
        else:
            told.append(f"Fear & Greed not computed: {self.fear_greed_problem}")
        return told


def configured_feeds(settings: Settings) -> list[str]:
    """The feeds to read: ``news_feeds``, or the sample feed shipped with alphabook when none is configured."""
    return list(settings.news_feeds) or [SAMPLE_FEED.as_uri()]


def market_source(settings: Settings) -> DataSource:
    """Where the index's market data comes from: the configured folder, else the bundled offline samples."""
    return FileSource(settings.market_mood_data_dir) if settings.market_mood_data_dir else BundledSource()


def refresh(database: Database, settings: Settings, feeds: Sequence[str] | None = None) -> RefreshReport:
    """Fetch ``feeds`` (default: :func:`configured_feeds`), store their stories and a new Fear & Greed snapshot.

    Failing feeds are reported in the answer, not raised; so is a Fear & Greed index the market data cannot give
    (the news is stored all the same). Raises InvalidInput for a malformed watchlist setting.
    """
    addresses = list(feeds) if feeds else configured_feeds(settings)
    watchlist = Watchlist.of(settings.sentiment_symbols)
    with database.session() as session:
        known = {row.url: row for row in session.scalars(select(NewsFeed).where(NewsFeed.url.in_(addresses)))}
    with httpx.Client(timeout=settings.news_fetch_timeout_seconds, follow_redirects=True) as client:
        fetched = [fetch_feed(address, client, etag=known[address].etag if address in known else None,
                              last_modified=known[address].last_modified if address in known else None)
                   for address in addresses]
    parsed = [_parse(answer) for answer in fetched]
    choice = _scorer(settings.sentiment_finbert_path)
    stories = dedupe(item for each in parsed for item in each.items)
    scores = choice.scorer.score([story.text for story in stories])  # FinBERT may take seconds: no transaction yet
    report = RefreshReport(scorer=choice.scorer.name, finbert=choice.finbert)
    with database.session() as session:  # the feeds' validators commit with their stories, or neither does
        feed_of: dict[int, int] = {}
        for each in parsed:
            outcome, feed_id = _record_feed(session, each)
            report.feeds.append(outcome)
            feed_of.update((id(item), feed_id) for item in each.items)
        _store(session, stories, scores, feed_of, choice, watchlist, report)
        try:
            report.fear_greed = update_fear_greed(session, settings, market_source(settings))
        except AlphabookError as error:
            report.fear_greed_problem = error.detail
    return report


def update_fear_greed(session: Session, settings: Settings, source: DataSource) -> FearGreed:
    """Compute the index from ``source``'s bars of ``market_mood_symbol`` and the base asset's headlines, and
    store it as a snapshot. Raises InvalidInput when the data cannot give it (unknown symbol, too few bars)."""
    symbol = parse_symbol(settings.market_mood_symbol)
    bars = source.fetch_bars(symbol, settings.market_mood_timeframe)
    asset = symbol.base or symbol.ticker or ""
    summary = summarise(queries.latest_scores(session, asset, settings.sentiment_headlines))
    index = fear_greed(bars, settings.market_mood_timeframe, summary.score)
    session.add(FearGreedSnapshot(
        computed_at=utcnow(), as_of=index.as_of, market=f"{symbol} {settings.market_mood_timeframe}",
        value=index.value, label=index.label,
        components={each.name: {"score": each.score, "weight": each.weight, "reading": each.reading}
                    for each in index.components}))
    session.flush()
    return index


@cache
def _scorer(finbert_path: Path | None) -> ScorerChoice:
    """One scorer per process and model folder: FinBERT takes seconds to load, VADER's lexicon a moment."""
    return choose_scorer(finbert_path)


@dataclass(frozen=True, slots=True)
class _Parsed:
    """One feed's answer, parsed before any transaction begins."""

    answer: Fetched
    title: str | None  # the document's, when it was one
    items: list[FeedItem]
    status: str
    failed: bool


def _parse(answer: Fetched) -> _Parsed:
    if answer.content is None:
        return _Parsed(answer, None, [], answer.status, answer.error)
    try:
        document = parse_feed(answer.content, address=answer.address)
    except InvalidInput as error:
        return _Parsed(answer, None, [], f"not a feed: {error.detail}", True)
    return _Parsed(answer, document.title[:500], document.items, f"{answer.status}, {len(document.items)} items",
                   answer.error)


def _record_feed(session: Session, parsed: _Parsed) -> tuple[FeedOutcome, int]:
    """Note what the feed answered (its validators for the next conditional GET)."""
    answer = parsed.answer
    feed = _feed_row(session, answer.address)
    feed.fetched_at = utcnow()
    if parsed.title is not None:
        feed.title = parsed.title
    if not answer.error:
        feed.etag, feed.last_modified = answer.etag, answer.last_modified
    feed.status = parsed.status[:500]
    session.flush()
    return FeedOutcome(answer.address, feed.status, len(parsed.items), parsed.failed), feed.id


def _feed_row(session: Session, url: str) -> NewsFeed:
    """The feed's row, made on first sight; a refresh racing to make it too finds the winner's row."""
    query = select(NewsFeed).where(NewsFeed.url == url)
    if (feed := session.scalar(query)) is not None:
        return feed
    try:
        with session.begin_nested():
            feed = NewsFeed(url=url, title="", status="never fetched")
            session.add(feed)
        return feed
    except IntegrityError:
        return session.scalars(query).one()


def _store(session: Session, stories: list[FeedItem], scores: Sequence[Score], feed_of: dict[int, int],
           choice: ScorerChoice, watchlist: Watchlist, report: RefreshReport) -> None:
    """Store the de-duplicated, scored ``stories``; ``feed_of`` maps each item's ``id()`` to its feed's row."""
    now = utcnow()
    for story, score in zip(stories, scores, strict=True):
        stored = _existing(session, story)
        if stored is None:
            row = NewsItem(guid=story.guid[:1000], feed_id=feed_of.get(id(story)), fetched_at=now,
                           published_at=story.published or story.changed_at or now)
            _write(row, story, score, choice, watchlist)
            try:
                with session.begin_nested():
                    session.add(row)
            except IntegrityError:  # another refresh stored this story a moment ago
                report.unchanged += 1
                continue
            report.new += 1
        elif story.changed_at is not None and (stored.changed_at is None or story.changed_at > stored.changed_at):
            _write(stored, story, score, choice, watchlist)
            stored.fetched_at = now
            report.updated += 1
        else:
            report.unchanged += 1
    session.flush()


def _existing(session: Session, story: FeedItem) -> NewsItem | None:
    """The stored row of ``story``: by GUID, else by link, else by normalised title."""
    lookups = [NewsItem.guid == story.guid[:1000]]
    if story.link:
        lookups.append(NewsItem.link == story.link[:2000])
    if key := normalise_title(story.title)[:1000]:
        lookups.append(NewsItem.title_key == key)
    for condition in lookups:
        if (row := session.scalars(select(NewsItem).where(condition).order_by(NewsItem.id).limit(1)).first()):
            return row
    return None


def _write(row: NewsItem, story: FeedItem, score: Score, choice: ScorerChoice, watchlist: Watchlist) -> None:
    row.link, row.title, row.summary = story.link[:2000], story.title[:1000], story.summary
    row.title_key, row.source = normalise_title(story.title)[:1000], story.source[:500]
    row.changed_at = story.changed_at
    row.score, row.label, row.scorer = score.compound, score.label, choice.scorer.name
    wanted = watchlist.mentioned(story.text)
    row.mentions = [mention for mention in row.mentions if mention.symbol in wanted] + [
        NewsMention(symbol=symbol) for symbol in wanted if symbol not in {each.symbol for each in row.mentions}]
