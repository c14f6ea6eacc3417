"""Feeds in, one item per story out: RSS 2.0 and Atom parsed by feedparser into plain text and UTC times, and the
same story from several feeds (same GUID, link or title) or in a corrected version kept once, newest version."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alphabook.core.errors import InvalidInput
from alphabook.research.sentiment import SAMPLE_FEED, FeedItem, dedupe, normalise_title, parse_feed
from tests.fakes.fake_feeds import SOLANA_CORRECTED, Feed, market_news, render


def items_of(path: str, feeds: dict[str, Feed] | None = None) -> list[FeedItem]:
    feed = (feeds or market_news())[path]
    return parse_feed(render(feed, "https://news.example" + path), address=path).items


def test_an_rss_feed_gives_its_items_with_guid_link_text_and_utc_time() -> None:
    first, second, third = items_of("/markets.rss")
    assert first == FeedItem(guid="rss-btc-record", link="https://news.example/btc-record",
                             title="Bitcoin soars to a record high as investors cheer ETF approval",
                             summary="Strong inflows lifted BTC.", published=datetime(2026, 3, 2, 9, tzinfo=UTC),
                             updated=None, source="Example Markets")
    assert (second.guid, third.guid) == ("rss-aapl-slump", "rss-eth-outage")
    assert first.text == "Bitcoin soars to a record high as investors cheer ETF approval. Strong inflows lifted BTC."


def test_an_atom_feed_gives_entries_with_their_update_times() -> None:
    entries = items_of("/crypto.atom")
    assert [each.guid for each in entries] == ["urn:news:btc-record", "urn:news:eth-outage", "urn:news:sol-upgrade"]
    assert entries[2].updated == datetime(2026, 3, 2, 10, tzinfo=UTC) == entries[2].changed_at
    assert entries[1].link == "https://wire.example/eth-outage" and entries[1].source == "Example Crypto"


def test_html_in_a_feed_becomes_plain_text() -> None:
    document = ("<rss version='2.0'><channel><title>T &amp; Co</title><item><title>Tesla &lt;b&gt;beats&lt;/b&gt;"
                "</title><description>&lt;p&gt;Shares &lt;a href='x'&gt;up&lt;/a&gt; 5%&lt;/p&gt;</description>"
                "<link>https://n.example/1</link></item></channel></rss>")
    [item] = parse_feed(document, address="inline").items
    assert (item.title, item.summary, item.source) == ("Tesla beats", "Shares up 5%", "T & Co")
    assert item.guid == "https://n.example/1" and item.published is None  # no guid: the link identifies it


def test_a_document_that_is_not_a_feed_is_refused_in_words() -> None:
    with pytest.raises(InvalidInput, match=r"https://n.example/page is not an RSS or Atom feed"):
        parse_feed(b"<html><body>Hello</body></html>", address="https://n.example/page")


def test_the_bundled_sample_feed_parses_offline() -> None:
    sample = parse_feed(SAMPLE_FEED.read_bytes(), address=str(SAMPLE_FEED))
    assert sample.title.startswith("alphabook sample market news") and len(sample.items) == 8
    assert len({item.guid for item in sample.items}) == 8


def test_duplicates_across_feeds_by_link_and_by_title_are_one_story() -> None:
    stories = dedupe(items_of("/markets.rss") + items_of("/crypto.atom"))
    assert [each.guid for each in stories] == ["rss-btc-record", "rss-aapl-slump", "rss-eth-outage",
                                               "urn:news:sol-upgrade"]
    # the Atom copy of the Bitcoin story was written at the same time: the version seen first stays
    assert stories[0].title.endswith("ETF approval")


def test_a_corrected_item_replaces_the_older_version_whatever_the_order() -> None:
    feeds = market_news()
    corrected = {"/crypto.atom": Feed("atom", "Example Crypto", (SOLANA_CORRECTED,))}
    old, new = items_of("/crypto.atom", feeds)[2], items_of("/crypto.atom", corrected)[0]
    assert dedupe([old, new]) == [new] and dedupe([new, old]) == [new]
    assert new.title == "Solana rallies after developers ship a successful upgrade"


@pytest.mark.parametrize(("title", "key"), [
    ("Bitcoin soars — to a RECORD!", "bitcoin soars to a record"),
    ("  Café  crème, déjà vu ", "cafe creme deja vu"),
    ("ETH/USD: 3,000?", "eth usd 3 000"),
])
def test_titles_are_compared_without_case_accents_or_punctuation(title: str, key: str) -> None:
    assert normalise_title(title) == key
